"""`--what-if KEY=VALUE`: re-predict with one term of the model replaced.

One record per key (what it replaces, how its value reads); the CLI help and the parser are
both derived from WHAT_IF, so adding a key touches only this table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BW_UNITS = {
    "TB/s": 1e12,
    "GB/s": 1e9,
    "MB/s": 1e6,
    "Tb/s": 1e12 / 8,
    "Gb/s": 1e9 / 8,
    "Mb/s": 1e6 / 8,
}
_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"


def _bandwidth(text: str) -> float:
    """50GB/s, 400Gb/s (bits: / 8), 12.5 GB/s -> GB/s (1e9 bytes per second)."""
    m = re.fullmatch(rf"\s*({_NUMBER})\s*(TB/s|GB/s|MB/s|Tb/s|Gb/s|Mb/s)\s*", text)
    if not m:
        raise ValueError(f"{text!r} is not a bandwidth (e.g. 50GB/s or 400Gb/s)")
    value = float(m.group(1)) * _BW_UNITS[m.group(3)] / 1e9
    if value <= 0:
        raise ValueError(f"bandwidth must be positive, got {text!r}")
    return value


def _time(text: str) -> float:
    """20us, 1.5ms, 0.2s -> seconds."""
    m = re.fullmatch(rf"\s*({_NUMBER})\s*(s|ms|us|µs|ns)\s*", text)
    if not m:
        raise ValueError(f"{text!r} is not a time (e.g. 20us, 1.5ms)")
    return float(m.group(1)) * _TIME_UNITS[m.group(3)]


def _time_or_factor(text: str) -> tuple[str, float]:
    """120ms (a time) or 0.5x (a factor on the measured compute)."""
    m = re.fullmatch(rf"\s*({_NUMBER})\s*x\s*", text)
    if m:
        value = float(m.group(1))
        if value <= 0:
            raise ValueError(f"factor must be positive, got {text!r}")
        return ("factor", value)
    return ("seconds", _time(text))


@dataclass(frozen=True)
class Key:
    name: str
    parse: object
    example: str
    replaces: str


WHAT_IF = {
    k.name: k
    for k in (
        Key("link", _bandwidth, "link=50GB/s", "inter-node bus bandwidth B (large messages)"),
        Key("intra", _bandwidth, "intra=370GB/s", "intra-node bus bandwidth B (large messages)"),
        Key("alpha", _time, "alpha=20us", "per-collective latency alpha(n), held constant in n"),
        Key(
            "compute", _time_or_factor, "compute=0.5x", "compute time t_local (a time or a factor)"
        ),
    )
}


def parse_what_if(specs: list[str] | tuple[str, ...]) -> dict:
    """{"link": 50.0, ...} from ["link=50GB/s", ...]; ValueError (one line) on anything else."""
    out: dict = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        key = key.strip()
        if not sep or key not in WHAT_IF:
            known = ", ".join(k.example for k in WHAT_IF.values())
            raise ValueError(f"--what-if {spec!r}: expected KEY=VALUE with KEY one of: {known}")
        if key in out:
            raise ValueError(f"--what-if {key} given twice")
        try:
            out[key] = WHAT_IF[key].parse(value)
        except ValueError as e:
            raise ValueError(f"--what-if {spec!r}: {e}") from None
    return out


def describe(what_if: dict) -> str:
    """link=50 GB/s; compute x0.5: the replaced terms, for tables and the report."""
    parts = []
    for key, v in what_if.items():
        if key in ("link", "intra"):
            parts.append(f"{key}={v:g} GB/s")
        elif key == "alpha":
            parts.append(f"alpha={v * 1e6:g} us")
        elif v[0] == "factor":
            parts.append(f"compute x{v[1]:g}")
        else:
            parts.append(f"compute={v[1] * 1e3:g} ms")
    return "; ".join(parts)


def help_text() -> str:
    return "; ".join(f"{k.example} ({k.replaces})" for k in WHAT_IF.values())
