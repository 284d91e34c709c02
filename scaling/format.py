"""Missing values, JSON-safe values, and how figures read as text: one module for the CLI,
the collector and the report (no pandas, torch or ray here).

A figure that is unknown reads "n/a", with its reason where there is one; it is never a
zero and never a NaN in JSON.
"""

from __future__ import annotations

import math

from scaling.config.units import format_bytes, format_size


def missing(x) -> bool:
    """None or NaN (a float, a numpy float, the text "nan")."""
    if x is None:
        return True
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def number(x) -> float | None:
    """x as a float, or None when it is missing or not a number (for JSON and verdicts)."""
    if x is None or isinstance(x, str):
        return None
    x = float(x)
    return None if math.isnan(x) else x


def json_safe(obj):
    """Nested dicts and lists for json.dumps(allow_nan=False): NaN and infinities -> None
    (unknown, never a number JSON cannot hold), numpy scalars -> Python, keys -> text."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if getattr(obj, "shape", None) == () and hasattr(obj, "item"):  # a numpy scalar
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def json_rows(table) -> list[dict]:
    """A DataFrame's rows as JSON-safe dicts."""
    return [json_safe(row) for row in table.to_dict(orient="records")]


def na(reason: str | None = None) -> str:
    return f"n/a ({reason})" if reason else "n/a"


def num(x, digits: int = 2, why: str | None = None, sep: bool = True) -> str:
    """A number with fixed digits (and thousands separators unless sep=False); n/a (why)."""
    if missing(x):
        return na(why)
    return f"{float(x):,.{digits}f}" if sep else f"{float(x):.{digits}f}"


def sig(x, digits: int = 3, why: str | None = None) -> str:
    """A number to `digits` significant figures (latencies, times spanning decades)."""
    if missing(x):
        return na(why)
    x = float(x)
    if x == 0:
        return "0"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(x)))))
    return f"{x:,.{decimals}f}"


def pct(x, digits: int = 1, why: str | None = None) -> str:
    """A ratio as a percentage: 0.923 -> 92.3%."""
    if missing(x):
        return na(why)
    return f"{float(x) * 100:.{digits}f}%"


def signed_pct(x, digits: int = 1) -> str:
    """A change already in percent: +3.2% / -1.0%."""
    if missing(x):
        return na()
    return f"{float(x):+.{digits}f}%"


def ms(seconds, why: str | None = None) -> str:
    """Seconds shown as milliseconds, 3 significant figures."""
    return na(why) if missing(seconds) else sig(float(seconds) * 1e3)


def size(n) -> str:
    return na() if missing(n) else format_size(int(n))


def bytes_h(n, why: str | None = None) -> str:
    """Memory in GiB/MiB, for people."""
    if missing(n):
        return na(why)
    return format_bytes(float(n), 2)


def integer(x, why: str | None = None) -> str:
    return na(why) if missing(x) else f"{int(x):,}"


def text(x, default: str = "") -> str:
    return default if missing(x) or x == "" else str(x)
