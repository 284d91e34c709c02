"""How figures read in a report: fixed digits, units, and n/a with its reason."""

from __future__ import annotations

import math

from scaling.config.units import format_size


def missing(x) -> bool:
    if x is None:
        return True
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def na(reason: str | None = None) -> str:
    return f"n/a ({reason})" if reason else "n/a"


def num(x, digits: int = 2, why: str | None = None) -> str:
    """A number with thousands separators; n/a (why) when missing."""
    if missing(x):
        return na(why)
    return f"{float(x):,.{digits}f}"


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
    n = float(n)
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} B"


def integer(x, why: str | None = None) -> str:
    return na(why) if missing(x) else f"{int(x):,}"


def text(x, default: str = "") -> str:
    return default if missing(x) or x == "" else str(x)
