"""Adaptive localisation: name the bad nodes and node pairs of a cluster in O(k log N) group tests.

    from scaling.collector.validate.localize import Outcome, localize
    loc = localize(hostnames, run_group_tests)      # run_group_tests(requests) -> outcomes
    loc.findings, loc.tests, loc.wall_s, loc.to_dict()

A *group test* runs one communication check over a set of nodes (scaling/validate/
localization.py: an all_reduce over one rank per node, in a process group of its own; pass =
it completes, exactly, above the bar) and answers pass/fail plus the measured value. This module never measures: it decides which
groups to test, from the answers alone, the way NVIDIA's cluster-readiness design does:

1. **Screen** all N nodes with one group test. Pass: done, one test.
2. N <= exhaustive_max_nodes: test **every pair** (N-1 rounds of disjoint pairs). A node whose
   every pair fails is bad; a failing pair of two otherwise-good nodes is a bad link.
3. Otherwise **bisect**: split a failing group in halves (along `domains`, e.g. racks or
   NVLink domains, where given) and test both; recurse into the failing halves. A half of one
   node is tested **with a known-good buddy** (a node that already passed a test).
4. **Confirm** each suspect with a second, different known-good buddy. Fails again: the node
   is bad. Passes: the first buddy's pair is retested; failing twice, it is a bad link;
   otherwise the failure is intermittent (WARN).
5. Both halves pass although their union failed: retest the union (a pass: intermittent),
   then find the **cross pair**: bisect one half against the whole other half, then the other
   half against the node found. The pair is tested alone to confirm.
6. **Verify**: test every node not blamed together. Fails: localise again inside it, up to
   `max_passes` times; still failing: the rest is one unlocalised group (FAIL).

A node that gives no measurement (Outcome.missing: its rank died, hung or never answered)
FAILs at once and leaves play; the rest of its group is tested again without it. Disjoint
tests are offered together as one round (`GroupTest` may run them concurrently); the time
of a round is measured around the call (`clock`), so modelled time comes out of a simulated
clock (simulate.py) and real time out of a real one. Cost for k faults: about 2 tests per
level of the bisection per fault, 2·k·log2(N) + a few, against N(N-1)/2 for all pairs.
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
from scaling.collector.validate.search import Search

__all__ = [
    "FINDING_CODES", "PHASES", "Finding", "GroupTest", "Localization", "Outcome", "Request",
    "Step", "group_test_budget", "localize", "round_robin",
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
) -> Localization:
    """Localise the faults among `nodes` (hostnames). domains: node -> domain (rack, switch,
    NVLink domain) to split along; max_concurrent: tests per round (None: no limit);
    timing: "modelled" when `clock` and the durations come from a simulation."""
    nodes = list(dict.fromkeys(nodes))
    if len(nodes) < 2:
        return Localization(nodes, "single node", timing=timing)
    eng = Search(nodes, test, clock, max_concurrent, domains)
    eng.loc.timing = timing
    eng.drive([eng.screen(exhaustive_max_nodes)])
    for attempt in range(max_passes):
        if eng.loc.mode == "screen passed":
            break
        rest = [n for n in eng.loc.nodes if n not in eng.blamed()]
        if len(rest) < 2 or eng.verified(rest):
            break
        eng.drive([eng.verify(tuple(rest), last=attempt == max_passes - 1)])
    return eng.loc


def group_test_budget(n: int, k: int) -> int:
    """The issue's budget: about 2·k·log2(N) + 8 group tests for k faults among N nodes."""
    return math.ceil(2 * k * math.log2(max(n, 2)) + 8)
