"""Pairs of ranks or nodes, scheduled in rounds of disjoint pairs (pure, floor 0).

Both sides use it: the p2p check (workloads/checks/p2p.py) runs its pairs in these rounds on
the ranks, and validate's localisation (collector/validate) schedules node pairs with it.

    round_robin(["a", "b", "c", "d"])   # [[("a", "d"), ("b", "c")], [("a", "c"), ...], ...]
"""

from __future__ import annotations


def round_robin(nodes) -> list[list[tuple[str, str]]]:
    """All pairs as N-1 rounds (N even) of disjoint pairs: the circle method."""
    ring = list(nodes) + ([None] if len(nodes) % 2 else [])
    n, rounds = len(ring), []
    for _ in range(n - 1):
        pairs = [(ring[i], ring[n - 1 - i]) for i in range(n // 2)]
        rounds.append([p for p in pairs if None not in p])
        ring = [ring[0], ring[-1], *ring[1:-1]]
    return rounds
