"""Ring orders for the localisation: the fewest rings over all nodes that make every pair adjacent.

    from scaling.collector.validate.rings import ring_orders, ring_pairs
    orders = ring_orders(["a", "b", "c", "d"])   # [("a","b","c","d"), ("b","d","a","c")]
    ring_pairs(orders[0])                       # {("a","b"), ("b","c"), ("c","d"), ("a","d")}

A group test is an all_reduce over one rank per node, and a ring all_reduce sends only between
neighbours in the ring: rank i to rank i+1, the last back to the first. scaling numbers a
group's ranks in the order its nodes are listed (validate/groups.py gives group rank j to the
j-th member), so the ring order of a group test is the order of its Request's nodes. A bad
link fails a test only when its two ends are neighbours there.

A ring over m nodes crosses m pairs, so covering the N(N-1)/2 pairs of N nodes takes at least
ceil((N-1)/2) rings. Walecki's construction reaches that bound: for N even, the zigzag paths
i, i+1, i-1, i+2, i-2, ... (i < N/2) split the pairs of N nodes into N/2 Hamiltonian paths (each
tested as a ring, which adds one pair already covered elsewhere); for N odd, the same paths of
N-1 nodes closed through the last node are (N-1)/2 Hamiltonian cycles. The first order is the
nodes' own order, so the first screen is the one the search always ran.
"""

from __future__ import annotations

from collections.abc import Sequence


def rings_needed(n: int) -> int:
    """How many rings over all n nodes it takes to make every pair adjacent once."""
    return n // 2 if n >= 2 else 0


def ring_orders(nodes: Sequence[str]) -> list[tuple[str, ...]]:
    """ceil((N-1)/2) orders of `nodes` in which every pair is adjacent in at least one; the
    first is `nodes` as given."""
    nodes = list(nodes)
    n = len(nodes)
    if n < 2:
        return []
    even = n - n % 2  # the zigzag runs over an even count; an odd node closes each path
    lead = (even,) if n % 2 else ()  # vertex `even` is the odd node, first in each ring
    paths = [lead + _zigzag(i, even) for i in range(even // 2)]
    # Relabel so the first ring is the nodes' own order.
    label = [""] * n
    for j, v in enumerate(paths[0]):
        label[v] = nodes[j]
    return [tuple(label[v] for v in p) for p in paths]


def _zigzag(i: int, n: int) -> tuple[int, ...]:
    """i, i+1, i-1, i+2, i-2, ..., i+n/2 (mod n): one of Walecki's n/2 Hamiltonian paths."""
    return tuple((i + (j + 1) // 2 * (1 if j % 2 else -1)) % n for j in range(n))


def ring_pairs(order: Sequence[str]) -> set[tuple[str, str]]:
    """The pairs a ring all_reduce over `order` crosses (each pair sorted)."""
    m = len(order)
    if m < 2:
        return set()
    return {tuple(sorted((order[i], order[(i + 1) % m]))) for i in range(m)}  # type: ignore[misc]


def adjacent(order: Sequence[str], a: str, b: str) -> bool:
    """Whether a and b are neighbours in the ring over `order` (both must be in it)."""
    if a not in order or b not in order or a == b:
        return False
    i, j = order.index(a), order.index(b)
    return abs(i - j) in (1, len(order) - 1)


def pairs_covered(orders: Sequence[Sequence[str]], nodes: Sequence[str]) -> int:
    """How many of the pairs of `nodes` are adjacent in at least one of `orders`."""
    index = {v: i for i, v in enumerate(nodes)}
    seen: set[int] = set()
    n = len(nodes)
    for order in orders:
        m = len(order)
        if m < 2:
            continue
        for k in range(m if m > 2 else 1):
            a, b = index.get(order[k]), index.get(order[(k + 1) % m])
            if a is not None and b is not None and a != b:
                seen.add(min(a, b) * n + max(a, b))
    return len(seen)
