"""Judge a measured figure per GPU, link or node: against the fleet, a public minimum, the peak
and the link ceiling. One rule set for every metric check (GEMM, memory, H2D/D2H, P2P, node
all_reduce, storage), so they all read the same way.

The fleet rule is robust: the median and the median absolute deviation (MAD) ignore the odd
ones out that a mean and a standard deviation would chase. The band is

    median ± max(k · 1.4826 · MAD, min_pct% of median)

1.4826·MAD estimates the standard deviation of normal noise, so k reads as sigmas. The floor
of min_pct% keeps a very tight fleet (MAD near 0) from failing a GPU 1% off: SuperBench's
"more than 5% worse than the fleet P50" is the default. Below the band FAILs; above it WARNs
(the rest of the fleet may be the slow part). A fleet is the samples of one GPU model (or one
`fleet` key, e.g. model + link class for GPU pairs); fewer than MIN_FLEET values cannot say
which one is odd, and the rule is then skipped, and the verdict says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from scaling.collector.validate.codes import FAIL, METRICS, PASS, WARN, metric_code, worst
from scaling.collector.validate.verdicts import Verdict, is_missing, missing

MAD_TO_SIGMA = 1.4826
"""MAD x 1.4826 estimates sigma for normal data (1 / the 0.75 quantile of the standard normal)."""
MIN_FLEET = 3
RULE_ORDER = ("min", "peak", "ceiling", "fleet", "fleet_high")
"""When several rules fail, the code comes from the first of these (the most specific)."""


@dataclass(frozen=True)
class Band:
    median: float
    mad: float
    low: float
    high: float
    n: int
    k: float
    min_pct: float

    @property
    def set_by(self) -> str:
        spread = self.k * MAD_TO_SIGMA * self.mad
        floor = self.min_pct / 100 * abs(self.median)
        return (
            f"k·MAD ({self.k:g} x 1.4826 x {self.mad:.4g})"
            if spread > floor
            else (f"the {self.min_pct:g}% floor")
        )

    def to_dict(self) -> dict:
        return {"median": self.median, "mad": self.mad, "low": self.low, "high": self.high,
                "n": self.n, "k": self.k, "min_pct": self.min_pct, "set_by": self.set_by}  # fmt: skip


def fleet_band(values: Iterable[float], k: float, min_pct: float) -> Band | None:
    """The band, or None with fewer than MIN_FLEET finite values."""
    a = np.asarray([v for v in values if not is_missing(v)], dtype=float)
    if len(a) < MIN_FLEET:
        return None
    median = float(np.median(a))
    mad = float(np.median(np.abs(a - median)))
    half = max(k * MAD_TO_SIGMA * mad, min_pct / 100 * abs(median))
    return Band(median, mad, median - half, median + half, len(a), k, min_pct)


@dataclass
class Sample:
    """One measured figure to judge, and what it is judged against."""

    node: str
    value: float | None
    gpu: int | None = None
    uuid: str | None = None
    model: str | None = None
    peer_node: str | None = None
    peer_gpu: int | None = None
    error: str | None = None
    """Why there is no value (the rank died, the node did not answer)."""
    rounds: list[float] = field(default_factory=list)
    fleet: str | None = None
    """Which samples this one is compared with; default: the same model."""
    minimum: float | None = None
    minimum_source: str = ""
    peak: float | None = None
    """Datasheet peak in the value's unit (the peak rule)."""
    ceiling: float | None = None
    """Link ceiling in the value's unit (the ceiling rule)."""
    ceiling_label: str = ""
    details: dict = field(default_factory=dict)
    duration_s: float | None = None


@dataclass(frozen=True)
class Rules:
    k: float = 3.0
    min_pct: float = 5.0
    peak_fraction: float | None = None
    ceiling_fraction: float | None = None


def judge_metric(check: str, samples: list[Sample], rules: Rules) -> list[Verdict]:
    """One verdict per sample, in order."""
    metric = METRICS[check]
    fleets: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        fleets[_fleet_key(s)].append(s.value)
    judged = "fleet" in metric.criteria
    bands = {
        key: fleet_band(vals, rules.k, rules.min_pct) if judged else None
        for key, vals in fleets.items()
    }
    sizes = {key: sum(not is_missing(v) for v in vals) for key, vals in fleets.items()}
    out = []
    for s in samples:
        base = _identity(check, metric.scope, s)
        if is_missing(s.value):
            out.append(missing(base, s.error))
            continue
        key = _fleet_key(s)
        out.append(_judge_one(check, base, s, rules, bands[key], sizes[key]))
    return out


def _fleet_key(s: Sample) -> str:
    return s.fleet if s.fleet is not None else (s.model or "unknown model")


def _identity(check: str, scope: str, s: Sample) -> dict:
    return dict(
        check=check, scope=scope, node=s.node, gpu=s.gpu, uuid=s.uuid, model=s.model,
        peer_node=s.peer_node, peer_gpu=s.peer_gpu, unit=METRICS[check].unit,
        rounds=list(s.rounds), duration_s=s.duration_s,
    )  # fmt: skip


def _criteria(check: str, s: Sample, rules: Rules, band: Band | None, fleet_n: int) -> list[dict]:
    """Each rule of the metric: its lower bound and whether the value clears it, or why it was
    not applied (bound None), so the evidence says what was and was not judged."""
    metric, v, out = METRICS[check], float(s.value), []
    if "min" in metric.criteria:
        out.append(_rule("min", s.minimum, v, f"minimum ({s.minimum_source})")
                   if s.minimum is not None else
                   _skipped("min", s.minimum_source or "no minimum set"))  # fmt: skip
    if "peak" in metric.criteria:
        out.append(_rule("peak", rules.peak_fraction * s.peak, v, f"{rules.peak_fraction:g} x peak {s.peak:g}")
                   if s.peak and rules.peak_fraction else
                   _skipped("peak", f"no datasheet peak for {s.model or 'this device'}"))  # fmt: skip
    if "ceiling" in metric.criteria:
        label = f" {s.ceiling_label}" if s.ceiling_label else ""
        out.append(_rule("ceiling", rules.ceiling_fraction * s.ceiling, v,
                         f"{rules.ceiling_fraction:g} x{label} ceiling {s.ceiling:g}")
                   if s.ceiling and rules.ceiling_fraction else
                   _skipped("ceiling", "link ceiling unknown"))  # fmt: skip
    if "fleet" in metric.criteria and band is not None:
        out.append(_rule("fleet", band.low, v, f"fleet median {band.median:.4g} - {band.set_by}"))
        out.append({"rule": "fleet_high", "bound": band.high, "ok": v <= band.high,
                    "why": f"fleet band top {band.high:.4g}"})  # fmt: skip
    elif "fleet" in metric.criteria:
        out.append(_skipped("fleet", f"{fleet_n} comparable value(s), needs {MIN_FLEET}"))
    return out


def _skipped(rule: str, why: str) -> dict:
    return {"rule": rule, "bound": None, "ok": True, "why": f"{rule} rule not applied: {why}"}


def _rule(rule: str, bound: float, value: float, why: str) -> dict:
    return {"rule": rule, "bound": bound, "ok": value >= bound, "why": why}


def _judge_one(check, base, s: Sample, rules: Rules, band: Band | None, n: int) -> Verdict:
    metric = METRICS[check]
    crit = _criteria(check, s, rules, band, n)
    failed = sorted((c for c in crit if not c["ok"]), key=lambda c: RULE_ORDER.index(c["rule"]))
    levels = [_level(metric, c["rule"]) for c in failed]
    verdict = worst(levels)
    bounds = [c for c in crit if c["bound"] is not None and c["rule"] != "fleet_high"]
    binding = failed[0] if failed else max(bounds, key=lambda c: c["bound"], default=None)
    details = dict(s.details, criteria=crit)
    if band is not None:
        details["fleet"] = band.to_dict()
    return Verdict(
        **base,
        verdict=verdict,
        code=metric_code(check, failed[0]["rule"]) if failed else None,
        value=float(s.value),
        threshold=None if binding is None else binding["bound"],
        rule="" if binding is None else binding["why"],
        evidence=_evidence(metric.unit, float(s.value), crit, band),
        details=details,
    )


def _level(metric, rule: str) -> str:
    if rule == "fleet_high":
        return WARN
    return metric.below_min_verdict if rule == "min" else FAIL


def _evidence(unit: str, value: float, crit: list[dict], band: Band | None) -> str:
    parts = [f"{value:.4g} {unit}"]
    if band is not None:
        parts.append(
            f"fleet of {band.n}: median {band.median:.4g}, band {band.low:.4g}–{band.high:.4g}"
        )
    for c in crit:
        if c["rule"] in ("fleet", "fleet_high") and c["bound"] is not None:
            continue
        mark = "" if c["bound"] is None else f": >= {c['bound']:.4g} {'ok' if c['ok'] else 'BELOW'}"
        parts.append(f"{c['why']}{mark}")
    if band is not None and not all(c["ok"] for c in crit if c["rule"].startswith("fleet")):
        side = "below" if value < band.low else "above"
        parts.append(
            f"{side} the fleet band by {abs(value - band.median) / band.median:.1%} of the median"
        )
    return "; ".join(parts)


__all__ = ["MIN_FLEET", "PASS", "Band", "Rules", "Sample", "fleet_band", "judge_metric"]
