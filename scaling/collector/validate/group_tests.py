"""What the localisation asks and is told: group-test requests, outcomes, steps and findings.

`GroupTest` is the one callback the driver provides (scaling/validate/localization.py: a
real group test over gloo or NCCL);
`Localization` is what the search returns and validate.json keeps (`to_dict()`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from scaling.collector.validate.codes import FAIL, WARN
from scaling.pairing import round_robin

PHASES = ("reference", "screen", "bisect", "buddy", "confirm", "retest", "cross", "pair", "verify")


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

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Step:
        return cls(d["index"], d["round"], d["phase"], tuple(d["nodes"]), d["passed"],
                   d.get("value"), d.get("duration_s"), tuple(d.get("missing", ())),
                   d.get("detail", ""), d.get("why", ""))  # fmt: skip

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
    """single node | screen passed (every ring screen passed) | bisect | exhaustive pairs."""
    steps: list[Step] = field(default_factory=list)
    round_wall_s: list[float] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    passed_in: dict[str, int] = field(default_factory=dict)
    """node -> the first step it passed in (it is healthy as a node)."""
    timing: str = "measured"
    """What the durations are: "measured", or "modelled" when a simulated clock ran it."""
    rings_tested: int = 0
    """Ring orders screened (rings.py)."""
    rings_needed: int = 0
    """Ring orders it takes for every pair to be adjacent in one, ceil((N-1)/2): with fewer
    tested, a bad link between two nodes never adjacent in a tested ring goes unseen."""
    op: str = "all_reduce"
    """The group tests' collective: all_to_all (one screen crosses every pair) or all_reduce."""

    @property
    def tests(self) -> int:
        """Every group test, the node-pair reference tests included."""
        return len(self.steps)

    @property
    def reference_tests(self) -> int:
        return sum(s.phase == "reference" for s in self.steps)

    @property
    def every_pair_tested(self) -> bool:
        """Every pair of nodes was tested: neighbours in a screened ring, or as a pair."""
        return self.mode == "exhaustive pairs" or self.rings_tested >= self.rings_needed

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
            "reference_tests": self.reference_tests, "rings_tested": self.rings_tested,
            "rings_needed": self.rings_needed, "every_pair_tested": self.every_pair_tested,
            "op": self.op,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Localization:
        """Back from validate.json or a samples record (so verdicts rerun on recorded runs)."""
        findings = [Finding(f["kind"], tuple(f["nodes"]), f["evidence"], tuple(f["steps"]))
                    for f in d.get("findings", [])]  # fmt: skip
        return cls(list(d["nodes"]), d["mode"], [Step.from_dict(s) for s in d.get("steps", [])],
                   list(d.get("round_wall_s", [])), findings, dict(d.get("passed_in", {})),
                   d.get("timing", "measured"), d.get("rings_tested", 0),
                   d.get("rings_needed", 0), d.get("op", "all_reduce"))  # fmt: skip


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
        """Nodes of this request that gave no measurement."""
        if self.outcome is None:
            return ()
        return tuple(n for n in self.outcome.missing if n in self.request.nodes)


Investigation = Generator[list[Request], list[Result], list]
"""A coroutine: yields the requests it needs, receives their Results, and returns the child
investigations to start (so separate branches of the search share rounds)."""


PARTNERS = 2
"""Reference pairs per node: with two, a node beside one bad partner still shows a good pair."""
REFERENCE_NODES = 8
"""Nodes the reference is measured on: 8 tests in 2 rounds, whatever the cluster's size; the
median over 8 nodes' best pairs holds while fewer than 4 of them are bad."""


def reference_rounds(nodes: list[str]) -> list[list[tuple[str, str]]]:
    """The first rounds of all pairs among REFERENCE_NODES nodes evenly spread over `nodes`,
    until each of them has had PARTNERS partners."""
    if len(nodes) < 2:
        return []
    step = max(1, len(nodes) // REFERENCE_NODES)
    nodes = nodes[::step][:REFERENCE_NODES]
    need = min(PARTNERS, len(nodes) - 1)
    seen = {n: 0 for n in nodes}
    out = []
    for pairs in round_robin(nodes):
        if min(seen.values()) >= need:
            break
        out.append(pairs)
        for a, b in pairs:
            seen[a] += 1
            seen[b] += 1
    return out
