"""Build a RunConfig from defaults, a TOML file and CLI overrides.

Precedence, stated once: CLI > --config file > dataclass defaults.
Every error is a ConfigError with a one-line message naming the problem; the
CLI turns it into a usage error (exit 2).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from scaling.config.schema import (
    DEVICES,
    DTYPES,
    OPS,
    PLACEMENTS,
    PRECISIONS,
    RESNET50_PRESETS,
    SCALINGS,
    TIMINGS,
    TRANSFORMER_PRESETS,
    WORKLOADS,
    RunConfig,
)
from scaling.config.units import parse_list, parse_size, parse_world_sizes


class ConfigError(ValueError):
    """A user-facing configuration problem (bad file, unknown key, bad value)."""


def _positive_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise ValueError(f"expected a positive integer, got {v!r}")
    n = int(v)
    if n < 1:
        raise ValueError(f"expected a positive integer, got {v!r}")
    return n


def _nonneg_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise ValueError(f"expected a non-negative integer, got {v!r}")
    n = int(v)
    if n < 0:
        raise ValueError(f"expected a non-negative integer, got {v!r}")
    return n


def _positive_float(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError(f"expected a number, got {v!r}")
    x = float(v)
    if not x > 0:
        raise ValueError(f"expected a positive number, got {v!r}")
    return x


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise ValueError(f"expected true or false, got {v!r}")


def _choice(options: tuple[str, ...]):
    def parse(v: Any) -> str:
        if v not in options:
            raise ValueError(f"{v!r} is not one of {', '.join(options)}")
        return v

    return parse


def _choices(options: tuple[str, ...]):
    def parse(v: Any) -> list[str]:
        items = parse_list(v)
        for item in items:
            if item not in options:
                raise ValueError(f"unknown {item!r} (choose from {', '.join(options)})")
        return list(dict.fromkeys(items))

    return parse


def _env(v: Any) -> dict[str, str]:
    if isinstance(v, dict):
        return {str(k): str(val) for k, val in v.items()}
    out = {}
    for item in v if isinstance(v, (list, tuple)) else [v]:
        name, sep, value = str(item).partition("=")
        if not sep or not name.strip():
            raise ValueError(f"expected NAME=VALUE, got {item!r}")
        out[name.strip()] = value
    return out


def _optional(parse):
    return lambda v: None if v is None else parse(v)


# One parser per settable key. A key missing here is not settable, and an
# unknown key in a file is an error rather than silently ignored.
PARSERS: dict[str, Any] = {
    "gpus": parse_world_sizes,
    "workloads": _choices(WORKLOADS),
    "out": _optional(str),
    "runs_dir": str,
    "repeats": _positive_int,
    "cluster.address": _optional(str),
    "cluster.device": _choice(DEVICES),
    "cluster.placement": _choice(PLACEMENTS),
    "cluster.gpus_per_node": _optional(_positive_int),
    "cluster.timeout_s": _positive_float,
    "cluster.env": _env,
    "cluster.strict": _bool,
    "collectives.ops": _choices(OPS),
    "collectives.min_bytes": parse_size,
    "collectives.max_bytes": parse_size,
    "collectives.factor": _positive_int,
    "collectives.dtypes": _choices(DTYPES),
    "collectives.warmup": _nonneg_int,
    "collectives.iters": _positive_int,
    "collectives.timing": _choice(TIMINGS),
    "collectives.pipeline_depth": _positive_int,
    "collectives.check": _bool,
    "training.scaling": _choice(SCALINGS),
    "training.precision": _choice(PRECISIONS),
    "training.warmup": _optional(_nonneg_int),
    "training.steps": _optional(_positive_int),
    "training.bucket_cap_mb": _positive_float,
    "training.gradient_as_bucket_view": _bool,
    "training.static_graph": _bool,
    "training.broadcast_buffers": _bool,
    "resnet50.preset": _choice(RESNET50_PRESETS),
    "resnet50.batch": _optional(_positive_int),
    "resnet50.image_size": _optional(_positive_int),
    "resnet50.channels_last": _bool,
    "transformer.preset": _choice(TRANSFORMER_PRESETS),
    "transformer.batch": _optional(_positive_int),
    "transformer.seq_len": _optional(_positive_int),
}


def register(key: str, parser) -> None:
    """Let a later section (e.g. a workload's) declare its settable keys."""
    PARSERS[key] = parser


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and not any(p == dotted for p in PARSERS):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a config file into flat dotted keys, or raise ConfigError naming the file."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"malformed TOML in {p}: {e}") from None
    return _flatten(data)


def apply(cfg: RunConfig, flat: dict[str, Any], source: str) -> RunConfig:
    """Apply dotted-key overrides onto cfg in place; unknown keys and bad values are errors."""
    for key, raw in flat.items():
        parser = PARSERS.get(key)
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
    """Cross-field checks that no single key can make."""
    c = cfg.collectives
    if c.min_bytes > c.max_bytes:
        raise ConfigError(f"min_bytes ({c.min_bytes}) is larger than max_bytes ({c.max_bytes})")
    if c.factor < 2 and c.min_bytes != c.max_bytes:
        raise ConfigError("factor must be >= 2 when min_bytes < max_bytes")
    return cfg


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> RunConfig:
    """Defaults, then the TOML file, then CLI overrides (None values mean 'not given')."""
    cfg = RunConfig()
    if path is not None:
        apply(cfg, read_toml(path), source=str(path))
    if overrides:
        apply(cfg, {k: v for k, v in overrides.items() if v is not None}, source="command line")
    return validate(cfg)


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    """Plain dict for the manifest."""
    return dataclasses.asdict(cfg)
