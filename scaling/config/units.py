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
