"""How a config field is declared once and read everywhere.

A section is a dataclass; each field has a type, a default and a docstring under it. A field
that needs more than its type says declares it with `setting(...)`: its choices (a tuple, or
a function of a registry, read when a value is checked), a parser, a lower bound, or how its
default reads in --help. From that one declaration come the TOML/CLI parser (`parser_for`),
the --help text with its default (`help_text`) and the value a flag or key accepts.

    @dataclass
    class CollectivesConfig:
        max_bytes: int = setting(64 << 20, parse=parse_size, show=format_size)
        \"\"\"Largest message size S in bytes (nccl-tests -e).\"\"\"
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import math
import textwrap
import typing
from collections.abc import Callable
from typing import Any

from scaling.config.units import parse_list

Choices = tuple[str, ...] | Callable[[], tuple[str, ...]]


def setting(
    default: Any = dataclasses.MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    choices: Choices | None = None,
    parse: Callable[[Any], Any] | None = None,
    minimum: int | None = None,
    show: Callable[[Any], str] | None = None,
) -> Any:
    """A dataclass field with what its type alone does not say (see the module docstring).

    minimum: for ints, the smallest accepted value (default 1). show: renders the default
    in --help (default: the value itself, lists comma-joined).
    """
    meta = {"choices": choices, "parse": parse, "minimum": minimum, "show": show}
    meta = {k: v for k, v in meta.items() if v is not None}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def choices_of(f: dataclasses.Field) -> tuple[str, ...] | None:
    c = f.metadata.get("choices")
    return c() if callable(c) else c


def default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def show_default(f: dataclasses.Field) -> str | None:
    """The default as --help shows it; None when unset (the docstring says what unset means)."""
    value = default_of(f)
    if value is None or value == {} or value == []:
        return None
    show = f.metadata.get("show")
    if show is not None:
        return show(value)
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ---------------------------------------------------------------- parsers


def _int(minimum: int):
    what = "positive" if minimum == 1 else "non-negative" if minimum == 0 else f">= {minimum}"

    def parse(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int | str):
            raise ValueError(f"expected a {what} integer, got {v!r}")
        n = int(v)
        if n < minimum:
            raise ValueError(f"expected a {what} integer, got {v!r}")
        return n

    return parse


def _positive_float(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError(f"expected a number, got {v!r}")
    x = float(v)
    if not math.isfinite(x):
        raise ValueError(f"expected a finite number, got {v!r}")
    if not x > 0:
        raise ValueError(f"expected a positive number, got {v!r}")
    return x


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise ValueError(f"expected true or false, got {v!r}")


def _choice(choices: Choices):
    def parse(v: Any) -> str:
        options = choices() if callable(choices) else choices
        if v not in options:
            raise ValueError(f"{v!r} is not one of {', '.join(options)}")
        return v

    return parse


def _choices(choices: Choices):
    def parse(v: Any) -> list[str]:
        options = choices() if callable(choices) else choices
        items = parse_list(v)
        for item in items:
            if item not in options:
                raise ValueError(f"unknown {item!r} (choose from {', '.join(options)})")
        return list(dict.fromkeys(items))

    return parse


def parse_env(v: Any) -> dict[str, str]:
    """NAME=VALUE strings (CLI, repeatable) or a TOML table."""
    if isinstance(v, dict):
        return {_env_name(str(k)): str(val) for k, val in v.items()}
    out = {}
    for item in v if isinstance(v, list | tuple) else [v]:
        name, sep, value = str(item).partition("=")
        if not sep or not name.strip():
            raise ValueError(f"expected NAME=VALUE, got {item!r}")
        out[_env_name(name.strip())] = value
    return out


def _env_name(name: str) -> str:
    """An environment variable's name: a shell identifier (letters, digits, _; no leading
    digit). "A B" or "-x" would reach the ranks' environment as names no program reads."""
    if not (name.isascii() and name.isidentifier()):
        raise ValueError(f"{name!r} is not a valid variable name (letters, digits and _ only)")
    return name


def _optional(parse):
    return lambda v: None if v is None else parse(v)


def parser_for(f: dataclasses.Field, annotation: Any) -> Callable[[Any], Any]:
    """The parser of one field, from its type and setting(): a ValueError names a bad value."""
    meta = f.metadata
    args = typing.get_args(annotation)
    if type(None) in args:  # X | None
        inner = next(a for a in args if a is not type(None))
        return _optional(parser_for(f, inner))
    if "parse" in meta:
        return meta["parse"]
    origin = typing.get_origin(annotation)
    if origin is list and "choices" in meta:
        return _choices(meta["choices"])
    if annotation is str:
        return _choice(meta["choices"]) if "choices" in meta else str
    if annotation is bool:
        return _bool
    if annotation is int:
        return _int(meta.get("minimum", 1))
    if annotation is float:
        return _positive_float
    raise TypeError(f"field {f.name}: no parser for {annotation!r}; pass setting(parse=...)")


def fields_of(cls: type) -> list[tuple[dataclasses.Field, Any]]:
    """(field, resolved type) of a section dataclass."""
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls)]


def is_section(annotation: Any) -> bool:
    return dataclasses.is_dataclass(annotation) and isinstance(annotation, type)


# ---------------------------------------------------------------- documentation


@functools.cache
def docstrings(cls: type) -> dict[str, str]:
    """field name -> the docstring under it in the source of cls or of a base it extends (a
    subclass that declares a field again documents it again)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        out.update(_own_docstrings(klass))
    return out


def _own_docstrings(cls: type) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = ast.parse(source).body[0].body
    out = {}
    for stmt, nxt in zip(body, body[1:], strict=False):
        named = isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
        if named and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            out[stmt.target.id] = " ".join(str(nxt.value.value).split())
    return out


def field_of(cls: type, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def field_default(cls: type, name: str) -> Any:
    """The default of cls.name: the one place a default is written."""
    return default_of(field_of(cls, name))


def help_text(cls: type, name: str, shown: Any = ..., also: str | None = None) -> str:
    """A field's docstring, its choices (when the docstring does not name them), a note and
    its default. shown: the default as it should read (default: show_default; None: none)."""
    f = field_of(cls, name)
    text = docstrings(cls).get(name, "")
    options = choices_of(f)
    if options and not all(o in text for o in options):
        text += f" One of: {', '.join(options)}."
    if also:
        text += f" ({also})"
    shown = show_default(f) if shown is ... else shown
    return f"{text} [default: {shown}]" if shown is not None else text
