"""One verdict per check per node, GPU or link, and the result they add up to.

    Verdict(check="gemm", verdict="FAIL", scope="gpu", node="n07", gpu=3, uuid="GPU-...",
            code="GEMM_BELOW_FLEET", value=512.0, unit="TFLOP/s", threshold=702.1,
            rule="median 739.1 - max(3.0 x 1.4826 x MAD, 5% of median)",
            evidence="512.0 TFLOP/s; fleet of 64 H100 SXM: median 739.1, band >= 702.1")

A verdict always says what was measured, against what, and why it passed or not. A value
that could not be measured is a FAIL with code NO_MEASUREMENT, never a silent pass: every
judge here goes through `missing()` for it.

`ValidateResult` is what validate.json holds (see `scaling/sinks/validate_json.py`); its
exit code is 0 when nothing FAILs (WARN allowed) and 1 otherwise.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from scaling.collector.validate.codes import CODES, FAIL, PASS, SCOPES, VERDICTS, WARN, worst

SCHEMA = "scaling.validate/1"


@dataclass
class Verdict:
    check: str
    """What was judged: gemm, membw, h2d, d2h, p2p, allreduce, storage, sdc, inter_node,
    pcie_aspm, a doctor check name, or <check>_vs_baseline."""
    verdict: str
    """PASS | WARN | FAIL."""
    scope: str
    """node | gpu | link | group (codes.SCOPES)."""
    node: str = ""
    """Hostname ("" for a group verdict: its nodes are in details["nodes"])."""
    gpu: int | None = None
    """GPU index on the node (CUDA/NVML order); None for node, inter-node link, group."""
    uuid: str | None = None
    model: str | None = None
    """The device name (NVML / torch), e.g. "NVIDIA H100 80GB HBM3"; "cpu" on CPU ranks."""
    peer_node: str | None = None
    """For a link: the other end's hostname (== node inside a node)."""
    peer_gpu: int | None = None
    code: str | None = None
    """Stable fault code (codes.CODES); None on PASS."""
    value: float | None = None
    """The measured figure (None: not measured, or not a number, e.g. a digest)."""
    unit: str = ""
    threshold: float | None = None
    """The bound the value had to clear (the binding one when several rules apply)."""
    rule: str = ""
    """How the threshold was derived, with its source."""
    evidence: str = ""
    """One line a person reads: the figure, the comparison, what else was seen."""
    details: dict[str, Any] = field(default_factory=dict)
    """Machine-readable evidence (fleet median and band, digests, localisation steps)."""
    rounds: list[float] = field(default_factory=list)
    """Per-round figures behind value, for --baseline (empty when only one was taken)."""
    duration_s: float | None = None
    device: str | None = None
    """cpu for CPU ranks (gpu is then the rank's number in validate's order): subjects say
    "rank3" rather than "GPU3"."""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")
        if self.scope not in SCOPES:
            raise ValueError(f"scope {self.scope!r} is not one of {SCOPES}")
        if self.verdict != PASS and self.code not in CODES:
            raise ValueError(
                f"{self.verdict} verdict needs a code from codes.CODES, got {self.code!r}"
            )

    @property
    def subject(self) -> str:
        """n07 GPU3 · n07 GPU0<->GPU1 · n07<->n12 · n07 · cluster (CPU ranks: rank1)."""
        unit = "rank" if self.device == "cpu" else "GPU"
        if self.scope == "group":
            nodes = self.details.get("nodes", [])
            return f"group of {len(nodes)} nodes" if nodes else "cluster"
        if self.scope == "link" and self.peer_gpu is not None:
            return f"{self.node} {unit}{self.gpu}<->{unit}{self.peer_gpu}"
        if self.scope == "link":
            return f"{self.node}<->{self.peer_node}"
        if self.scope == "gpu":
            return f"{self.node} {unit}{self.gpu}"
        return self.node

    @property
    def key(self) -> tuple:
        """Identifies the same check on the same thing in another run (for --baseline)."""
        return (self.check, self.node, self.gpu, self.peer_node, self.peer_gpu)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["subject"] = self.subject
        return _finite(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _finite(x):
    """NaN/inf become None: JSON has no NaN, and a missing figure is None everywhere."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def missing(base: dict[str, Any], why: str | None) -> Verdict:
    """The FAIL for a measurement that could not be taken. base: the verdict's identity fields."""
    reason = why or "no value was returned"
    return Verdict(
        **base, verdict=FAIL, code="NO_MEASUREMENT", evidence=f"not measured: {reason}",
        details={"reason": reason},
    )  # fmt: skip


@dataclass
class ValidateResult:
    verdicts: list[Verdict]
    thresholds: dict[str, Any] = field(default_factory=dict)
    """The thresholds in force, with their sources (config.validate.ValidateConfig, resolved)."""
    nodes: list[dict[str, Any]] = field(default_factory=list)
    """One entry per node: hostname and its GPUs ({index, uuid, model})."""
    localization: dict[str, Any] | None = None
    """localize.Localization.to_dict(), when nodes were localised."""
    baseline: dict[str, Any] | None = None
    """Which run was the baseline and how it was matched, when --baseline was given."""
    created: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return worst(v.verdict for v in self.verdicts)

    @property
    def exit_code(self) -> int:
        """0: everything passed (WARN allowed); 1: something FAILed."""
        return 1 if self.status == FAIL else 0

    def counts(self) -> dict[str, int]:
        return {v: sum(1 for x in self.verdicts if x.verdict == v) for v in (PASS, WARN, FAIL)}

    def node_verdicts(self) -> dict[str, str]:
        """Worst verdict per hostname over its node, GPU and intra-node link verdicts."""
        out: dict[str, str] = {n["hostname"]: PASS for n in self.nodes}
        for v in self.verdicts:
            inside_node = v.scope in ("node", "gpu") or (
                v.scope == "link" and v.peer_gpu is not None
            )
            if v.node and inside_node:  # inter-node links and groups name no single node
                out[v.node] = worst([out.get(v.node, PASS), v.verdict])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "created": self.created,
            "status": self.status,
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "thresholds": _finite(self.thresholds),
            "nodes": self.nodes,
            "verdicts": [v.to_dict() for v in self.verdicts],
            "localization": self.localization,
            "baseline": self.baseline,
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ValidateResult:
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not a validate result (schema {d.get('schema')!r}, want {SCHEMA!r})")
        return cls(
            verdicts=[Verdict.from_dict(v) for v in d.get("verdicts", [])],
            thresholds=d.get("thresholds") or {},
            nodes=d.get("nodes") or [],
            localization=d.get("localization"),
            baseline=d.get("baseline"),
            created=d.get("created", ""),
            notes=d.get("notes") or [],
        )


__all__ = ["FAIL", "PASS", "WARN", "ValidateResult", "Verdict", "is_missing", "missing"]
