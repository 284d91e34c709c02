"""A simulated cluster for the localisation search: planted faults and a cost model.

    from scaling.collector.validate.localize import localize
    from scaling.collector.validate.simulate import CostModel, SimulatedCluster
    sim = SimulatedCluster.of(1024, bad_nodes={"n0017"})
    loc = localize(sim.nodes, sim, clock=sim.clock, timing="modelled")
    loc.tests, loc.wall_s       # group tests used; modelled seconds (an estimate)

The group test passes unless the group holds a bad node, a bad link crossed by the test (op
"all_to_all": any group holding both ends; op "all_reduce": only where its two ends are
neighbours in the test's ring, rings.py: the ring order is the order of the request's nodes;
`ring=False` there fails any group holding both ends too), a silent node (it
times out: the node is reported missing), or a flaky node still owed a spurious failure. Time advances by the slowest test of each round (a round's tests run side by side).
Everything here is a model: its figures are estimates and must be labelled so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from scaling.collector.validate.localize import Outcome, Request
from scaling.collector.validate.rings import adjacent


@dataclass(frozen=True)
class CostModel:
    """Modelled seconds for one group test over n nodes (an estimate, not a measurement).

    setup_s: gang start, rendezvous, NCCL communicator init and warmup; NVIDIA's cluster-
    readiness design quotes ~28 min for 22–57 tests over 232 nodes, i.e. 30–75 s a round.
    per_node_s: bootstrap work that grows with the ranks. The timed part: `iters` all_reduces
    of `size_bytes` at `busbw_gbps` (the ring moves 2(n-1)/n of the size per rank).
    """

    setup_s: float = 30.0
    per_node_s: float = 0.05
    size_bytes: float = 4e9
    busbw_gbps: float = 40.0
    iters: int = 5
    timeout_s: float = 120.0
    """What a test with a silent node costs on top: the time until it is declared missing."""

    def __call__(self, n: int) -> float:
        move = 2 * (n - 1) / n * self.size_bytes / (self.busbw_gbps * 1e9) if n > 1 else 0.0
        return self.setup_s + self.per_node_s * n + self.iters * move


@dataclass
class SimulatedCluster:
    nodes: list[str]
    bad_nodes: set[str] = field(default_factory=set)
    bad_links: set[frozenset[str]] = field(default_factory=set)
    silent_nodes: set[str] = field(default_factory=set)
    flaky: dict[str, int] = field(default_factory=dict)
    """node -> how many of the next tests holding it fail spuriously."""
    cost: CostModel = field(default_factory=CostModel)
    healthy_gbps: float = 40.0
    now: float = 0.0
    ring: bool = True
    """op all_reduce: a bad link fails a test only when its ends are neighbours in the ring
    (NCCL's and gloo's ring all_reduce); False: whenever the group holds both ends."""
    op: str = "all_reduce"
    """The group tests' collective: all_to_all crosses every pair of the group's nodes."""

    @classmethod
    def of(cls, n: int, *, bad_links: Iterable[tuple[str, str]] = (), **faults) -> SimulatedCluster:
        nodes = [f"n{i:04d}" for i in range(n)]
        return cls(nodes, bad_links={frozenset(p) for p in bad_links}, **faults)

    def clock(self) -> float:
        return self.now

    def __call__(self, requests: Sequence[Request]) -> list[Outcome]:
        outcomes = [self._one(tuple(r.nodes)) for r in requests]
        self.now += max((o.duration_s for o in outcomes), default=0.0)
        return outcomes

    def _one(self, order: tuple[str, ...]) -> Outcome:
        group = set(order)
        took = self.cost(len(group))
        silent = tuple(sorted(group & self.silent_nodes))
        if silent:
            return Outcome(False, None, took + self.cost.timeout_s, silent, "timed out")
        faulty = bool(group & self.bad_nodes) or any(
            self._crossed(order, link) for link in self.bad_links
        )
        flaked = self._flake(group)
        passed = not (faulty or flaked)
        value = self.healthy_gbps * (1.0 if passed else 0.3)
        return Outcome(passed, value, took, (), "" if passed else "busbw below threshold")

    def _crossed(self, order: tuple[str, ...], link: frozenset[str]) -> bool:
        if self.op == "all_to_all" or not self.ring:
            return link <= set(order)
        return adjacent(order, *sorted(link))

    def _flake(self, group: set[str]) -> bool:
        owed = [n for n in sorted(group) if self.flaky.get(n, 0) > 0]
        for n in owed:
            self.flaky[n] -= 1
        return bool(owed)
