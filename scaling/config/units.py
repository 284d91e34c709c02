"""Byte sizes as users type them: 1K, 64M, 1G (binary units, like nccl-tests' -b/-e)."""

from __future__ import annotations

import re

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """Parse "64M" -> 67108864. K, M, G mean KiB, MiB, GiB; a plain number is bytes."""
    if isinstance(text, bool):
        raise ValueError(f"not a byte size: {text!r}")
    if isinstance(text, int):
        if text <= 0:
            raise ValueError(f"byte size must be positive, got {text}")
        return text
    m = _SIZE_RE.match(str(text))
    if not m:
        raise ValueError(f"not a byte size: {text!r} (expected e.g. 1K, 64M, 1G or a byte count)")
    value = int(m.group(1)) * _UNITS[m.group(2).upper()]
    if value <= 0:
        raise ValueError(f"byte size must be positive, got {text!r}")
    return value


def format_size(n: int) -> str:
    """Inverse of parse_size for exact multiples: 67108864 -> "64M"; otherwise bytes."""
    for suffix in ("T", "G", "M", "K"):
        unit = _UNITS[suffix]
        if n >= unit and n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


def format_bytes(n: float, digits: int | None = None) -> str:
    """Bytes for people, in binary units: the one byte formatter of the tool.

    digits None, a size (a message, a buffer, a bar's size): exact in the largest unit that
    divides it, as nccl-tests sizes are written: 65536 -> "64 KiB", 1000 -> "1000 B".
    digits given, an amount (memory in use, a peak): the largest unit it reaches, with that
    many decimals: format_bytes(1.5 * 2**30, 2) -> "1.50 GiB", format_bytes(300, 1) -> "300 B".
    (format_size is the other direction's twin: the form a user types, "64M".)
    """
    units = (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))
    if digits is None:
        n = int(n)
        unit, scale = next(((u, s) for u, s in units if n >= s and n % s == 0), ("B", 1))
        return f"{n // scale} {unit}"
    unit, scale = next(((u, s) for u, s in units if abs(n) >= s), ("B", 1))
    return f"{int(n)} B" if scale == 1 else f"{n / scale:.{digits}f} {unit}"


def parse_world_sizes(text: str | list) -> list[int]:
    """Parse "--gpus 1,2,4,8" into sorted unique positive ints."""
    items = text if isinstance(text, list) else [p for p in str(text).split(",")]
    sizes = []
    for item in items:
        s = str(item).strip()
        if not s:
            raise ValueError(f"empty entry in world sizes {text!r}")
        try:
            n = int(s)
        except ValueError:
            raise ValueError(
                f"world size {s!r} is not an integer (expected e.g. --gpus 1,2,4,8)"
            ) from None
        if n < 1:
            raise ValueError(f"world size must be >= 1, got {n}")
        sizes.append(n)
    if not sizes:
        raise ValueError("no world sizes given (expected e.g. --gpus 1,2,4,8)")
    return sorted(set(sizes))


def parse_list(text: str | list) -> list[str]:
    """Parse a comma list ("all_reduce,all_gather") or pass a TOML list through."""
    items = text if isinstance(text, list) else str(text).split(",")
    out = [str(i).strip() for i in items if str(i).strip()]
    if not out:
        raise ValueError(f"empty list: {text!r}")
    return out
