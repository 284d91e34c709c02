"""Build a RunConfig from defaults, a TOML file and CLI overrides.

Precedence, stated once: CLI > --config file > dataclass defaults.
Every settable key is a schema field (the root, [cluster], each workload's section); its
parser comes from the field's declaration (`fields.parser_for`), so a key cannot exist
without a field nor a field without a parser. Every error is a ConfigError with a one-line
message naming the problem; the CLI turns it into a usage error (exit 2).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from scaling.config.fields import fields_of, is_section, parser_for
from scaling.config.schema import RunConfig, sections


class ConfigError(ValueError):
    """A user-facing configuration problem (bad file, unknown key, bad value)."""


def keys() -> dict[str, tuple[type, str]]:
    """Every settable dotted key -> (its section dataclass, its field name), in schema order."""
    out: dict[str, tuple[type, str]] = {}

    def add(cls: type, prefix: str) -> None:
        for f, annotation in fields_of(cls):
            if f.name == "sections":
                continue
            if is_section(annotation):
                add(annotation, f"{prefix}{f.name}.")
            else:
                out[f"{prefix}{f.name}"] = (cls, f.name)

    add(RunConfig, "")
    for name, cls in sections().items():
        add(cls, f"{name}.")
    return out


def parsers() -> dict[str, Any]:
    """One parser per settable key. A key missing here is not settable, and an unknown key
    in a file is an error rather than silently ignored."""
    out = {}
    for key, (cls, name) in keys().items():
        f, annotation = next((f, a) for f, a in fields_of(cls) if f.name == name)
        out[key] = parser_for(f, annotation)
    return out


def flatten(data: dict, settable: dict, prefix: str = "") -> dict[str, Any]:
    """Nested sections -> dotted keys, stopping at keys that are settings themselves
    (a table-valued setting stays a dict); the config file's reader and best.toml's writer."""
    flat = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and dotted not in settable:
            flat.update(flatten(value, settable, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def read_toml(path: str | Path, settable: dict | None = None) -> dict[str, Any]:
    """Read a config file into flat dotted keys, or raise ConfigError naming the file."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {p} is a directory, not a TOML file") from None
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"config file {p} is not UTF-8 text (byte {e.start}): TOML must be UTF-8"
        ) from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {p}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"malformed TOML in {p}: {e}") from None
    return flatten(data, settable if settable is not None else parsers())


def apply(
    cfg: RunConfig, flat: dict[str, Any], source: str, settable: dict | None = None
) -> RunConfig:
    """Apply dotted-key overrides onto cfg in place; unknown keys and bad values are errors."""
    settable = settable if settable is not None else parsers()
    for key, raw in flat.items():
        parser = settable.get(key)
        if parser is None:
            raise ConfigError(f"unknown config key {key!r} in {source}")
        try:
            value = parser(raw)
        except ValueError as e:
            raise ConfigError(f"bad value for {key} in {source}: {e}") from None
        target = cfg
        *parents, leaf = key.split(".")
        for part in parents:
            target = getattr(target, part)
        setattr(target, leaf, value)
    return cfg


def validate(cfg: RunConfig) -> RunConfig:
    """Cross-field checks that no single key can make: each section's own `validate()`."""
    for section in cfg.sections.values():
        validate_section = getattr(section, "validate", None)
        if validate_section is not None:
            try:
                validate_section()
            except ValueError as e:
                raise ConfigError(str(e)) from None
    return cfg


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> RunConfig:
    """Defaults, then the TOML file, then CLI overrides (None values mean 'not given')."""
    settable = parsers()
    cfg = RunConfig()
    if path is not None:
        apply(cfg, read_toml(path, settable), str(path), settable)
    if overrides:
        given = {k: v for k, v in overrides.items() if v is not None}
        apply(cfg, given, "command line", settable)
    return validate(cfg)
