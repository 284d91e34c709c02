"""Subgroups of the current process group, created once and cached.

`new_group` is collective (every rank of the world must call it, in the same
order), so ranks that are not members call it too. The cache is cleared when
the world group is destroyed (RankActor.destroy_group).
"""

from __future__ import annotations

import torch.distributed as dist

_CACHE: dict[tuple[int, ...], object] = {}


def subgroup(ranks: list[int] | None):
    """The process group over `ranks` (global ranks), or None for the world group."""
    if not ranks:
        return None
    key = tuple(ranks)
    if key not in _CACHE:
        _CACHE[key] = dist.new_group(list(key))
    return _CACHE[key]


def clear() -> None:
    _CACHE.clear()
