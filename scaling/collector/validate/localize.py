"""Adaptive localisation: name the bad nodes and node pairs of a cluster in O(k log N) group tests.

    from scaling.collector.validate.localize import Outcome, localize
    loc = localize(hostnames, run_group_tests)      # run_group_tests(requests) -> outcomes
    loc.findings, loc.tests, loc.wall_s, loc.to_dict()

A *group test* runs one communication check over a set of nodes (scaling/validate/
localization.py: an all_to_all or all_reduce over every rank of each node, in a process group
of its own; pass = it completes, exactly, above the bar) and answers pass/fail plus the
measured value. This module never measures: it decides which groups to test, and in which
ring order, from the answers alone, the way NVIDIA's cluster-readiness design does.

**Fault model.** A bad node fails every test that holds it. Under `op="all_to_all"` (every
rank sends to every other) a bad link fails every test holding both its ends: one screen
crosses every pair, steps 1-6 below run once (no ring orders), a cross pair is found by
binary search instead of seams, and afterwards (7) each end of a found link is tested with
the nodes not blamed. Under `op="all_reduce"` a bad link fails a test only when its two ends
are neighbours in the test's ring: a ring all_reduce sends only between neighbours, and a
group's ring order is the order of its Request's nodes (rings.py).

0. **Reference** (optional, `reference`): node-pair tests the driver needs before it can set
   the bar. They are recorded as steps of phase "reference" and counted like every test, but
   prove no node good (there was no bar yet).
1. **Screen** all N nodes with one ring, once per ring order of rings.py: ceil((N-1)/2) orders
   make every pair adjacent in one ring (`rings` caps it; then some links go untested, and
   `rings_tested` < `rings_needed` says so). All pass: done.
2. A failing screen with N <= exhaustive_max_nodes: test **every pair** (N-1 rounds of
   disjoint pairs). A node whose every pair fails is bad; a failing pair of two otherwise-good
   nodes is a bad link. No further ring is needed.
3. Otherwise **bisect**: split a failing group into two contiguous stretches of its ring (at a
   `domains` edge, e.g. racks or NVLink domains, where one is near the middle) and test both;
   recurse into the failing halves. A half of one node is tested **with a known-good buddy**
   (a node that already passed a test).
4. **Confirm** each suspect with a second, different known-good buddy. Fails again: the node
   is bad. Passes: the first buddy's pair is retested; failing twice, it is a bad link;
   otherwise the failure is intermittent (WARN).
5. Both halves pass although their union failed: retest the union (a pass: intermittent),
   then test the two **seams**, the pairs where the halves meet in the union's ring: the only
   pairs the union crosses and the halves do not. A failing seam is a bad link.
6. **Verify**: test every node not blamed together, in the screen's order. Fails: localise
   again inside it, up to `max_passes` times; still failing: the rest is one unlocalised
   group (FAIL). Then the next ring order, without the nodes already blamed.
7. all_to_all only: each end of a found link with every node not blamed, and the pairs of
   ends that are not found links alone, so every pair but the bad links is proven; a failure
   is searched as above, and new links' ends get the same (up to `max_passes` times).

A node that gives no measurement (Outcome.missing: its rank died, hung or never answered)
FAILs at once and leaves play; the rest of its group is tested again without it. Disjoint
tests are offered together as one round (`GroupTest` may run them concurrently); the time
of a round is measured around the call (`clock`), so modelled time comes out of a simulated
clock (simulate.py) and real time out of a real one.

Cost: finding k faults takes about 2 tests per level of the bisection per fault, 2·k·log2(N)
plus a few; under all_reduce, proving that no link is bad takes the ceil((N-1)/2) ring
screens on top (a ring crosses N of the N(N-1)/2 pairs, so no ring-only search can do with
fewer); under all_to_all one screen proves them all. Testing every pair takes N(N-1)/2.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from scaling.collector.validate.group_tests import (
    FINDING_CODES,
    PHASES,
    Finding,
    GroupTest,
    Localization,
    Outcome,
    Request,
    Step,
    round_robin,
)
from scaling.collector.validate.rings import ring_orders, rings_needed
from scaling.collector.validate.search import Search

__all__ = [
    "FINDING_CODES", "PHASES", "Finding", "GroupTest", "Localization", "Outcome", "Request",
    "Step", "group_test_budget", "localize", "ring_test_budget", "round_robin",
]  # fmt: skip


def localize(
    nodes: Sequence[str],
    test: GroupTest,
    *,
    exhaustive_max_nodes: int = 8,
    domains: dict[str, str] | None = None,
    max_concurrent: int | None = None,
    max_passes: int = 3,
    clock: Callable[[], float] = time.perf_counter,
    timing: str = "measured",
    rings: int | None = None,
    reference: Callable[[GroupTest], object] | None = None,
    op: str = "all_reduce",
) -> Localization:
    """Localise the faults among `nodes` (hostnames). domains: node -> domain (rack, switch,
    NVLink domain) to split along; max_concurrent: tests per round (None: no limit);
    timing: "modelled" when `clock` and the durations come from a simulation; rings: screen
    at most this many ring orders (None: all, so every pair is adjacent in a tested ring);
    reference(run): called first with a GroupTest whose tests are recorded as reference steps;
    op: the group tests' collective, all_to_all (crosses every pair) or all_reduce (a ring)."""
    eng = Search(list(dict.fromkeys(nodes)), test, clock, max_concurrent, domains)
    eng.loc.timing, eng.loc.op, eng.every_pair = timing, op, op == "all_to_all"
    if reference is not None:
        reference(eng.reference)
    if len(eng.loc.nodes) < 2:
        eng.loc.mode = "single node"
        return eng.loc
    orders = [tuple(eng.loc.nodes)] if eng.every_pair else ring_orders(eng.loc.nodes)
    eng.loc.rings_needed = len(orders)
    for i, order in enumerate(orders[:rings]):
        out = eng.blamed(("node", "no_measurement", "group"))
        live, alone = eng.around_known_links(n for n in order if n not in out)
        if len(live) < 2:
            break
        eng.loc.rings_tested += 1
        first = len(eng.loc.steps)
        why = f"ring order {i + 1} of {len(orders)}"
        eng.drive([eng.screen(exhaustive_max_nodes, live, why), *map(eng.pair_check, alone)])
        if eng.loc.mode == "exhaustive pairs":  # every pair was tested on its own
            break
        if all(s.passed for s in eng.loc.steps[first:]):
            continue
        for attempt in range(max_passes):
            blamed = eng.blamed()
            rest = [n for n in live if n not in blamed]
            if len(rest) < 2 or eng.verified(rest):
                break
            eng.drive([eng.verify(tuple(rest), last=attempt == max_passes - 1)])
    for _ in range(max_passes if eng.every_pair and eng.loc.mode != "exhaustive pairs" else 0):
        follow = eng.link_ends()  # 7: the pairs of found links' ends with the rest
        if not follow:
            break
        eng.drive(follow)
    searched = [s for s in eng.loc.steps if s.phase != "reference"]
    if eng.loc.mode == "bisect" and all(
        s.phase == "screen" and (s.passed or s.missing) for s in searched
    ):
        eng.loc.mode = "screen passed"  # every screen passed, once without its silent nodes
    return eng.loc


def group_test_budget(n: int, k: int) -> int:
    """The issue's budget: about 2·k·log2(N) + 8 group tests for k faults among N nodes."""
    return math.ceil(2 * k * math.log2(max(n, 2)) + 8)


def ring_test_budget(n: int, k: int) -> int:
    """group_test_budget plus the ring screens after the first (ceil((N-1)/2) - 1): what a
    search that proves every pair under the ring model may spend."""
    return group_test_budget(n, k) + max(rings_needed(n) - 1, 0)
