"""--baseline RUN_DIR: judge this run's figures against a known-good run's, beyond both spreads.

This module only pairs the figures up and turns judgments into verdicts. The judgment itself
is the one function compare, tune and validate share (scaling.collector.judge.judge): it
takes two sets of per-round figures and says regression, improvement, same or undecided.
`scaling validate` passes it in, with the family of every paired figure, so its confidence
covers the whole comparison (judge.py explains why):

    from functools import partial
    from scaling.collector.judge import judge
    family = len(paired(result, baseline))
    cmp = against_baseline(result, baseline, partial(judge, threshold_pct=5.0, family=family))

That judge works on times (larger is worse). Validate's figures are throughputs of a fixed
amount of work (TFLOP/s, GB/s), so each round's figure goes in as its reciprocal: the time
per unit of work. Nothing else is computed here.

Figures are matched by check and subject (node, GPU, peer): a baseline from the same cluster
at another time. Figures without a partner are listed, not judged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from scaling.collector.validate.codes import FAIL, METRICS, PASS, WARN
from scaling.collector.validate.verdicts import ValidateResult, Verdict


class Judgment(Protocol):
    verdict: str
    """regression | improvement | same | undecided."""
    reason: str


Judge = Callable[[Sequence[float], Sequence[float]], Judgment]
"""judge(base_rounds, new_rounds) over times (larger is worse)."""


_VERDICT = {"regression": (FAIL, "BASELINE_REGRESSION"), "undecided": (WARN, "BASELINE_UNDECIDED")}


@dataclass
class BaselineComparison:
    verdicts: list[Verdict]
    matched: int
    only_current: list[str] = field(default_factory=list)
    only_baseline: list[str] = field(default_factory=list)

    def summary(self, baseline_path: str) -> dict[str, Any]:
        """What ValidateResult.baseline holds."""
        return {"run": baseline_path, "matched": self.matched,
                "only_current": self.only_current, "only_baseline": self.only_baseline}  # fmt: skip


def _figures(result: ValidateResult) -> dict[tuple, Verdict]:
    return {v.key: v for v in result.verdicts if v.check in METRICS and v.value is not None}


def paired(current: ValidateResult, baseline: ValidateResult) -> set[tuple]:
    """The figures both runs measured (check and subject): what against_baseline judges."""
    return _figures(current).keys() & _figures(baseline).keys()


def _times(v: Verdict) -> list[float]:
    return [1.0 / x for x in (v.rounds or [v.value]) if x and x > 0]


def against_baseline(
    current: ValidateResult, baseline: ValidateResult, judge: Judge
) -> BaselineComparison:
    now, base = _figures(current), _figures(baseline)
    out = []
    for key, v in now.items():
        b = base.get(key)
        if b is None:
            continue
        j = judge(_times(b), _times(v))
        verdict, code = _VERDICT.get(j.verdict, (PASS, None))
        out.append(Verdict(
            check=f"{v.check}_vs_baseline", verdict=verdict, scope=v.scope, node=v.node,
            gpu=v.gpu, uuid=v.uuid, model=v.model, peer_node=v.peer_node, peer_gpu=v.peer_gpu,
            code=code, value=v.value, unit=v.unit, threshold=b.value,
            rule="the baseline's figure; judged beyond both runs' spread (collector/judge.py)",
            evidence=f"{v.value:.4g} vs baseline {b.value:.4g} {v.unit}: {j.verdict}, {j.reason}",
            details={"baseline_value": b.value, "baseline_rounds": list(b.rounds),
                     "judgment": j.to_dict() if hasattr(j, "to_dict") else {"verdict": j.verdict, "reason": j.reason}},
            rounds=list(v.rounds),
        ))  # fmt: skip
    return BaselineComparison(
        out,
        matched=len(out),
        only_current=sorted(now[k].subject + f" {k[0]}" for k in now.keys() - base.keys()),
        only_baseline=sorted(base[k].subject + f" {k[0]}" for k in base.keys() - now.keys()),
    )
