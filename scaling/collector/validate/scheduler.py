"""Runs the search's coroutines in rounds of disjoint group tests, and keeps the books.

Each investigation (search.py) is a generator that yields the group tests it needs and is
sent their results. The scheduler packs the requests of every waiting investigation into one
round as long as their nodes do not overlap, fills in known-good buddies, calls the
`GroupTest` once per round, timing the call with `clock`, and records every test as a Step.
A node that passed any test is known-good; a node that gave no measurement is out of play.
"""

from __future__ import annotations

from scaling.collector.validate.group_tests import (
    Finding,
    Investigation,
    Localization,
    Outcome,
    Request,
    Result,
    Step,
)
from scaling.collector.validate.rings import ring_pairs


class Scheduler:
    def __init__(self, nodes, test, clock, max_concurrent, domains) -> None:
        order = {n: i for i, n in enumerate(nodes)}
        self.domain = dict(domains or {})
        # Nodes of a domain sit next to each other in the first ring order, so its splits can
        # follow domain edges (the other orders interleave domains: rings.py).
        ordered = sorted(nodes, key=lambda n: (str(self.domain.get(n, "")), order[n]))
        self.loc = Localization(ordered, "bisect")
        self.test, self.clock, self.max_concurrent = test, clock, max_concurrent
        self.out: set[str] = set()  # failed or silent nodes: never offered as buddies again
        self.every_pair = False
        """all_to_all: a group test crosses every pair of its nodes, not only ring neighbours."""
        self.ends_done: set[str] = set()  # link ends already tested with the rest (search.py)

    # -- bookkeeping --------------------------------------------------------------------

    def blamed(self, kinds=("node", "no_measurement", "link", "group")) -> set[str]:
        return {n for f in self.loc.findings if f.kind in kinds for n in f.nodes}

    def verified(self, rest: list[str]) -> bool:
        """rest already passed as one group (all_to_all) or ring, in this order (all_reduce),
        after the last finding."""
        last = max((max(f.steps, default=0) for f in self.loc.findings), default=0)
        crossed = set if self.every_pair else ring_pairs
        pairs = crossed(rest)
        return any(
            s.passed and s.index >= last and crossed(s.nodes) == pairs for s in self.loc.steps
        )

    def find(self, kind: str, nodes, evidence: str, steps) -> None:
        if kind == "link" and any(
            f.kind == "link" and set(f.nodes) == set(nodes) for f in self.loc.findings
        ):
            return  # found again where a later ring made its ends neighbours once more
        self.loc.findings.append(
            Finding(kind, tuple(nodes), evidence, tuple(s for s in steps if s))
        )
        if kind in ("node", "no_measurement"):
            self.out.update(nodes)

    def live(self, group) -> tuple[str, ...]:
        return tuple(n for n in group if n not in self.out)

    def around_known_links(self, order) -> tuple[tuple[str, ...], list[tuple[str, str]]]:
        """The ring `order` without the bad links found so far as neighbours (a node removed
        from a ring, or a Walecki ring's closing pair, can make a known link adjacent again and
        send the search after it twice). One end of such a link leaves the ring; the pair it
        leaves untested with its other neighbour is returned, to be tested on its own."""
        known = {frozenset(f.nodes) for f in self.loc.findings if f.kind == "link"}
        ring, alone = list(order), []
        while len(ring) > 2:
            m = len(ring)
            hit = next((i for i in range(m) if {ring[i], ring[(i + 1) % m]} in known), None)
            if hit is None:
                break
            kept, gone, after = ring[hit], ring[(hit + 1) % m], ring[(hit + 2) % m]
            ring.remove(gone)
            if after != kept and frozenset((gone, after)) not in known:
                alone.append((gone, after))
        return tuple(ring), alone

    def split(self, group) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Two contiguous stretches of the group's ring order (its own order, not the nodes'),
        cut at the domain edge nearest the middle where there is one."""
        g = list(group)
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

    def reference(self, requests) -> list[Outcome]:
        """Run node-pair reference tests (before the bar is set) as recorded, counted steps."""
        asked = [Request(r.nodes, "reference", r.why) for r in requests]
        return [res.outcome for res in self._run(asked)]

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
        if o.passed and r.phase != "reference":  # before the bar was set: proves nothing yet
            for n in r.nodes:
                self.loc.passed_in.setdefault(n, step.index)
        for n in o.missing:
            if n in r.nodes and n not in self.out:  # a name outside the group is ignored
                why = f"no measurement from {n} in step {step.index}" + (
                    f": {o.detail}" if o.detail else ""
                )
                self.find("no_measurement", (n,), why, (step.index,))
        return Result(r, o, step)
