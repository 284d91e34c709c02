"""Adaptive localisation: name the bad nodes and node pairs of a cluster in O(k log N) group tests.

    from scaling.collector.validate.localize import Outcome, localize
    loc = localize(hostnames, run_group_tests)      # run_group_tests(requests) -> outcomes
    loc.findings, loc.tests, loc.wall_s, loc.to_dict()

A *group test* runs one communication check over a set of nodes (phase 2: an all_reduce with
one rank per node, then the full world of those nodes; pass = both clear their thresholds)
and answers pass/fail plus the measured value. This module never measures: it decides which
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
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from scaling.collector.validate.codes import FAIL, WARN

PHASES = ("screen", "bisect", "buddy", "confirm", "retest", "cross", "pair", "verify")


@dataclass(frozen=True)
class Request:
    """One group test to run: these nodes, for this reason."""

    nodes: tuple[str, ...]
    phase: str
    why: str = ""
    buddy: bool = False
    """Filled in by the engine: add one known-good node (avoiding `avoid` if it can)."""
    avoid: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What a group test answered."""

    passed: bool
    value: float | None = None
    """The measured figure (e.g. busbw in GB/s), recorded for the report."""
    duration_s: float | None = None
    missing: tuple[str, ...] = ()
    """Nodes that gave no measurement (rank died, hung, did not answer): each FAILs."""
    detail: str = ""


GroupTest = Callable[[Sequence[Request]], Sequence[Outcome]]
"""Runs a round of disjoint group tests (concurrently, if it can) and returns one Outcome per
request, in order. Errors belong in the Outcome (passed=False, detail=...), not in exceptions."""


@dataclass
class Step:
    index: int
    round: int
    phase: str
    nodes: tuple[str, ...]
    passed: bool
    value: float | None
    duration_s: float | None
    missing: tuple[str, ...]
    detail: str
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "round": self.round, "phase": self.phase,
                "nodes": list(self.nodes), "passed": self.passed, "value": self.value,
                "duration_s": self.duration_s, "missing": list(self.missing),
                "detail": self.detail, "why": self.why}  # fmt: skip


FINDING_CODES = {
    "node": ("NODE_COMM_FAIL", FAIL),
    "link": ("LINK_COMM_FAIL", FAIL),
    "group": ("COMM_UNLOCALISED", FAIL),
    "intermittent": ("COMM_INTERMITTENT", WARN),
    "no_measurement": ("NO_MEASUREMENT", FAIL),
}


@dataclass
class Finding:
    kind: str
    """node | link | group | intermittent | no_measurement (FINDING_CODES)."""
    nodes: tuple[str, ...]
    evidence: str
    steps: tuple[int, ...]

    @property
    def code(self) -> str:
        return FINDING_CODES[self.kind][0]

    @property
    def verdict(self) -> str:
        return FINDING_CODES[self.kind][1]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "code": self.code, "verdict": self.verdict,
                "nodes": list(self.nodes), "evidence": self.evidence, "steps": list(self.steps)}  # fmt: skip


@dataclass
class Localization:
    nodes: list[str]
    mode: str
    """single node | screen passed | bisect | exhaustive pairs."""
    steps: list[Step] = field(default_factory=list)
    round_wall_s: list[float] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    passed_in: dict[str, int] = field(default_factory=dict)
    """node -> the first step it passed in (it is healthy as a node)."""
    timing: str = "measured"
    """What the durations are: "measured", or "modelled" when a simulated clock ran it."""

    @property
    def tests(self) -> int:
        return len(self.steps)

    @property
    def rounds(self) -> int:
        return len(self.round_wall_s)

    @property
    def wall_s(self) -> float:
        return float(sum(self.round_wall_s))

    @property
    def test_s(self) -> float:
        return float(sum(s.duration_s or 0.0 for s in self.steps))

    def blamed(self, kinds: tuple[str, ...] = ("node", "no_measurement")) -> list[str]:
        return sorted({n for f in self.findings if f.kind in kinds for n in f.nodes})

    def to_dict(self) -> dict[str, Any]:
        n = len(self.nodes)
        return {
            "mode": self.mode, "nodes": self.nodes, "tests": self.tests, "rounds": self.rounds,
            "wall_s": self.wall_s, "test_s": self.test_s,
            "exhaustive_pairs": n * (n - 1) // 2,
            "findings": [f.to_dict() for f in self.findings],
            "steps": [s.to_dict() for s in self.steps],
            "round_wall_s": self.round_wall_s, "passed_in": self.passed_in, "timing": self.timing,
        }  # fmt: skip


@dataclass
class Result:
    """What a coroutine gets back for one request: the request as run, its outcome and step
    (None when the request needed a buddy and no node has passed a test yet)."""

    request: Request
    outcome: Outcome | None
    step: Step | None

    @property
    def failed(self) -> bool:
        return self.outcome is not None and not self.outcome.passed

    @property
    def lost(self) -> tuple[str, ...]:
        return self.outcome.missing if self.outcome else ()


Investigation = Generator[list[Request], list[Result], list]
"""A coroutine: yields the requests it needs, receives their Results, and returns the child
investigations to start (so separate branches of the search share rounds)."""


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
    eng = _Engine(nodes, test, clock, max_concurrent, domains)
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


class _Engine:
    def __init__(self, nodes, test, clock, max_concurrent, domains) -> None:
        order = {n: i for i, n in enumerate(nodes)}
        self.domain = dict(domains or {})
        # Nodes of a domain sit next to each other, so every split can follow domain edges.
        ordered = sorted(nodes, key=lambda n: (str(self.domain.get(n, "")), order[n]))
        self.loc = Localization(ordered, "bisect")
        self.rank = {n: i for i, n in enumerate(ordered)}
        self.test, self.clock, self.max_concurrent = test, clock, max_concurrent
        self.out: set[str] = set()  # failed or silent nodes: never offered as buddies again

    # -- bookkeeping --------------------------------------------------------------------

    def blamed(self) -> set[str]:
        kinds = ("node", "no_measurement", "link", "group")
        return {n for f in self.loc.findings if f.kind in kinds for n in f.nodes}

    def verified(self, rest: list[str]) -> bool:
        """rest already passed as one group after the last finding (nothing left to verify)."""
        last = max((max(f.steps, default=0) for f in self.loc.findings), default=0)
        return any(
            s.passed and set(s.nodes) == set(rest) and s.index >= last for s in self.loc.steps
        )

    def find(self, kind: str, nodes, evidence: str, steps) -> None:
        self.loc.findings.append(
            Finding(kind, tuple(nodes), evidence, tuple(s for s in steps if s))
        )
        if kind in ("node", "no_measurement"):
            self.out.update(nodes)

    def live(self, group) -> tuple[str, ...]:
        return tuple(n for n in group if n not in self.out)

    def split(self, group) -> tuple[tuple[str, ...], tuple[str, ...]]:
        g = sorted(group, key=self.rank.__getitem__)
        mid = len(g) // 2
        edges = [i for i in range(1, len(g)) if self.domain.get(g[i]) != self.domain.get(g[i - 1])]
        if edges:
            mid = min(edges, key=lambda i: abs(i - len(g) / 2))
        return tuple(g[:mid]), tuple(g[mid:])

    def test_of(self, group, phase: str, why: str = "") -> Request:
        if len(group) == 1:
            return Request(tuple(group), "buddy", why or "one node, with a known-good buddy", True)
        return Request(tuple(group), phase, why)

    # -- running rounds -----------------------------------------------------------------

    def drive(self, starters: list[Investigation]) -> None:
        waiting: list[tuple[Investigation, list[Request]]] = []
        for inv in starters:
            self._advance(inv, None, waiting)
        while waiting:
            placed, held = self._pack(waiting)
            if not placed:  # only buddy requests left, and no node has passed: none will
                placed, held = [(inv, reqs, None) for inv, reqs in held], []
            runnable = [r for _, reqs, resolved in placed if resolved for r in resolved]
            results = iter(self._run(runnable))
            waiting = held
            for inv, reqs, resolved in placed:
                got = (
                    [next(results) for _ in resolved]
                    if resolved
                    else [Result(r, None, None) for r in reqs]
                )
                self._advance(inv, got, waiting)

    def _advance(self, inv: Investigation, value, waiting) -> None:
        try:
            waiting.append((inv, inv.send(value)))
        except StopIteration as stop:
            for child in stop.value or []:
                self._advance(child, None, waiting)

    def _pack(self, waiting):
        """Whole request lists that fit this round: disjoint nodes, buddies available."""
        busy: set[str] = set()
        placed, held = [], []
        for inv, reqs in waiting:
            resolved = self._resolve(reqs, busy)
            if resolved is None:
                held.append((inv, reqs))
                continue
            busy.update(n for r in resolved for n in r.nodes)
            placed.append((inv, reqs, resolved))
        return placed, held

    def _resolve(self, reqs: list[Request], busy: set[str]) -> list[Request] | None:
        taken = set(busy)
        if any(taken & set(r.nodes) for r in reqs):
            return None
        out = []
        for r in reqs:
            taken.update(r.nodes)
            if not r.buddy:
                out.append(r)
                continue
            good = [n for n in self.loc.passed_in if n not in self.out and n not in r.nodes]
            free = [n for n in good if n not in taken]
            pick = next((n for n in free if n not in r.avoid), free[0] if free else None)
            if pick is None:
                return None
            taken.add(pick)
            out.append(Request(r.nodes + (pick,), r.phase, r.why, avoid=r.avoid))
        return out

    def _run(self, requests: list[Request]) -> list[Result]:
        """Run requests in rounds of disjoint groups, at most max_concurrent per round."""
        results: dict[int, Result] = {}
        pending = list(enumerate(requests))
        while pending:
            batch, busy, later = [], set(), []
            for i, r in pending:
                fits = not busy & set(r.nodes)
                if fits and (self.max_concurrent is None or len(batch) < self.max_concurrent):
                    batch.append((i, r))
                    busy.update(r.nodes)
                else:
                    later.append((i, r))
            for (i, _), res in zip(batch, self._round([r for _, r in batch]), strict=True):
                results[i] = res
            pending = later
        return [results[i] for i in range(len(requests))]

    def _round(self, batch: list[Request]) -> list[Result]:
        start = self.clock()
        outcomes = list(self.test(batch))
        self.loc.round_wall_s.append(self.clock() - start)
        if len(outcomes) != len(batch):
            raise ValueError(
                f"group test returned {len(outcomes)} outcomes for {len(batch)} requests"
            )
        return [self._record(r, o) for r, o in zip(batch, outcomes, strict=True)]

    def _record(self, r: Request, o: Outcome) -> Result:
        step = Step(len(self.loc.steps) + 1, self.loc.rounds, r.phase, r.nodes, bool(o.passed),
                    o.value, o.duration_s, tuple(o.missing), o.detail, r.why)  # fmt: skip
        self.loc.steps.append(step)
        if o.passed:
            for n in r.nodes:
                self.loc.passed_in.setdefault(n, step.index)
        for n in o.missing:
            if n not in self.out:
                why = f"no measurement from {n} in step {step.index}" + (
                    f": {o.detail}" if o.detail else ""
                )
                self.find("no_measurement", (n,), why, (step.index,))
        return Result(r, o, step)

    # -- the search ---------------------------------------------------------------------

    def screen(self, exhaustive_max: int, group: tuple[str, ...] | None = None) -> Investigation:
        everyone = self.live(group or self.loc.nodes)
        if len(everyone) < 2:
            return []
        why = f"all {len(everyone)} nodes at once" + (" (without the silent ones)" if group else "")
        (res,) = yield [Request(everyone, "screen", why)]
        if res.lost:  # silent nodes are named; screen the rest again
            return [self.screen(exhaustive_max, everyone)]
        if not res.failed:
            self.loc.mode = "screen passed"
            return []
        if len(everyone) <= exhaustive_max:
            self.loc.mode = "exhaustive pairs"
            return [self.pairs(everyone, res.step.index)]
        return [self.investigate(everyone, res.step.index)]

    def verify(self, rest: tuple[str, ...], last: bool) -> Investigation:
        (res,) = yield [Request(rest, "verify", "every node not blamed, together")]
        if not res.failed:
            return []
        if last:
            self.find("group", self.live(rest), f"the {len(rest)} nodes not blamed still fail "
                      f"together (step {res.step.index}) after every pass of the search", (res.step.index,))  # fmt: skip
            return []
        return [self.recheck(rest) if res.lost else self.investigate(rest, res.step.index)]

    def recheck(self, group) -> Investigation:
        """Test again what is left of a group after silent nodes left it."""
        g = self.live(group)
        if not g:
            return []
        (res,) = yield [self.test_of(g, "retest", "the rest, after a node gave no measurement")]
        return self._after(g, res)

    def _after(self, group, res: Result) -> list:
        """What to do with a group whose test came back: children to start."""
        if res.outcome is None:
            self.find("group", group, f"{', '.join(group)} failed and no node has passed a test "
                      "to serve as a buddy", ())  # fmt: skip
            return []
        if not res.failed:
            return []
        if res.lost:
            return [self.recheck(group)]
        if len(group) == 1:
            return [self.confirm(group[0], res)]
        return [self.investigate(group, res.step.index)]

    def investigate(self, group, failed_step: int) -> Investigation:
        """group failed in failed_step: test both halves, go into the failing ones."""
        group = self.live(group)
        if len(group) < 2:
            return [self.recheck(group)]
        halves = self.split(group)
        results = yield [self.test_of(h, "bisect", f"half of step {failed_step}") for h in halves]
        if all(r.outcome is not None and not r.failed for r in results):
            return [self.cross(halves, failed_step, [r.step.index for r in results])]
        return [c for h, r in zip(halves, results, strict=True) for c in self._after(h, r)]

    def confirm(self, node: str, first: Result) -> Investigation:
        """node failed with one buddy (first): confirm with another."""
        buddy1 = next(n for n in first.request.nodes if n != node)
        (res,) = yield [
            Request((node,), "confirm", f"suspect {node}, a second buddy", True, (buddy1,))
        ]
        if res.outcome is None:
            self.find("group", (node,), f"{node} failed with {buddy1} (step {first.step.index}) "
                      "and no other node is left to confirm it with", (first.step.index,))  # fmt: skip
            return []
        if res.lost:  # the suspect is out, or its buddy went silent: try another buddy
            return [] if node in self.out else [self.confirm(node, first)]
        buddy2 = next(n for n in res.request.nodes if n != node)
        steps = (first.step.index, res.step.index)
        if res.failed:
            alone = (
                " (the only known-good node: a bad link to it cannot be ruled out)"
                if buddy2 == buddy1
                else ""
            )
            self.find("node", (node,), f"{node} failed with known-good {buddy1} (step {steps[0]}) "
                      f"and {buddy2} (step {steps[1]}){alone}", steps)  # fmt: skip
            return []
        (again,) = yield [
            Request((node, buddy1), "retest", f"{node} passed with {buddy2}: the pair again")
        ]
        return self._pair_verdict(node, buddy1, again, steps + (again.step.index,))

    def _pair_verdict(self, a: str, b: str, res: Result, steps) -> list:
        if res.lost:
            return [self.recheck((a, b))]
        if res.failed:
            self.find("link", (a, b), f"{a} and {b} fail together (steps "
                      f"{', '.join(map(str, steps))}) while each passes with other nodes", steps)  # fmt: skip
        else:
            self.find("intermittent", (a, b), f"{a} with {b} failed once and passed when "
                      f"repeated (steps {', '.join(map(str, steps))})", steps)  # fmt: skip
        return []

    def cross(self, halves, failed_step: int, half_steps: list[int]) -> Investigation:
        """Both halves pass alone, their union failed: a pair across them, or a fluke."""
        a_half, b_half = halves
        union = a_half + b_half
        (res,) = yield [
            Request(union, "retest", f"halves passed (steps {half_steps}), the union again")
        ]
        steps = [failed_step, *half_steps, res.step.index]
        if res.lost:
            return [self.recheck(union)]
        if not res.failed:
            self.find("intermittent", union, f"{len(union)} nodes failed together in step "
                      f"{failed_step}, passed in step {res.step.index}", steps)  # fmt: skip
            return []
        a = yield from self._narrow(a_half, b_half, "cross", steps)
        b = yield from self._narrow(b_half, (a,), "cross", steps)
        (pair,) = yield [Request((a, b), "pair", "the cross pair alone")]
        steps.append(pair.step.index)
        if pair.failed and not pair.lost:
            return self._pair_verdict(a, b, pair, steps)
        self.find("group", union, f"{len(union)} nodes fail together (steps {failed_step}, "
                  f"{res.step.index}), both halves pass, and no single pair across them fails "
                  "alone: several links, or a load-dependent fault", steps)  # fmt: skip
        return []

    def _narrow(self, candidates, against, phase: str, steps: list[int]):
        """Binary search for the node of `candidates` that fails together with `against`."""
        c = tuple(candidates)
        while len(c) > 1:
            first, second = self.split(c)
            (res,) = yield [Request(first + tuple(against), phase, "which node fails across")]
            steps.append(res.step.index)
            c = first if res.failed else second
        return c[0]

    def pairs(self, group, screen_step: int) -> Investigation:
        """Every pair of a small cluster, N-1 rounds of disjoint pairs."""
        results = []
        for rnd in round_robin(group):
            results += yield [Request(p, "pair", "every pair (small cluster)") for p in rnd]
        live = self.live(group)
        failed = [r for r in results if r.failed and not r.lost]
        bad, unsure = self._bad_in_pairs(live, failed)
        links = [r for r in failed if not set(r.request.nodes) & set(bad + unsure)]
        if len(live) == 2 and links:
            self.find("group", live, f"the only pair fails (step {links[0].step.index}): no "
                      "third node to tell which", [links[0].step.index])  # fmt: skip
            return []
        if not failed and not bad and len(live) > 1:
            return (yield from self._every_pair_passed(live, screen_step))
        checks = yield [Request(r.request.nodes, "retest", "the failing pair again") for r in links]
        children = []
        for first, again in zip(links, checks, strict=True):
            steps = (first.step.index, again.step.index)
            children += self._pair_verdict(*first.request.nodes, again, steps)
        return children

    def _bad_in_pairs(self, live, failed: list[Result]) -> tuple[list[str], list[str]]:
        """Nodes that fail with every other node: bad when two of those partners passed another
        pair (two known-good buddies); otherwise which ones are bad cannot be told."""
        bad, unsure = [], []
        for n in live if len(live) > 2 else ():
            partners = {m for r in failed if n in r.request.nodes for m in r.request.nodes} - {n}
            if partners < set(live) - {n}:
                continue
            good = sorted(partners & set(self.loc.passed_in))
            steps = [r.step.index for r in failed if n in r.request.nodes]
            if len(good) >= 2:
                self.find("node", (n,), f"{n} failed with every other node, {len(good)} of them "
                          f"known-good ({', '.join(good[:3])}{'...' if len(good) > 3 else ''}; steps {steps})", steps)  # fmt: skip
                bad.append(n)
            else:
                unsure.append(n)
        if unsure:
            self.find("group", unsure, f"{', '.join(unsure)} each fail with every other node, and "
                      "too few nodes passed a pair to tell which are bad", ())  # fmt: skip
        return bad, unsure

    def _every_pair_passed(self, live, screen_step: int):
        (res,) = yield [Request(live, "retest", "every pair passed: all of them again")]
        steps = (screen_step, res.step.index)
        if res.lost:
            return [self.recheck(live)]
        if res.failed:
            self.find("group", live, f"all {len(live)} nodes fail together (steps {screen_step}, "
                      f"{res.step.index}) though every pair passes: load-dependent", steps)  # fmt: skip
        else:
            self.find("intermittent", live, f"{len(live)} nodes failed together in step "
                      f"{screen_step}, passed in step {res.step.index}", steps)  # fmt: skip
        return []


def round_robin(nodes) -> list[list[tuple[str, str]]]:
    """All pairs as N-1 rounds (N even) of disjoint pairs: the circle method."""
    ring = list(nodes) + ([None] if len(nodes) % 2 else [])
    n, rounds = len(ring), []
    for _ in range(n - 1):
        pairs = [(ring[i], ring[n - 1 - i]) for i in range(n // 2)]
        rounds.append([p for p in pairs if None not in p])
        ring = [ring[0], ring[-1], *ring[1:-1]]
    return rounds


def group_test_budget(n: int, k: int) -> int:
    """The issue's budget: about 2·k·log2(N) + 8 group tests for k faults among N nodes."""
    return math.ceil(2 * k * math.log2(max(n, 2)) + 8)
