"""The round-level judgment of a change that tune and validate --baseline share.

`scaling compare` judges runs instead (collector/runsets.py): the rounds of one run share the
host's state, so between two runs they understate how much identical runs differ. Tune's
candidates are measured side by side in one session, where rounds are the right unit;
validate --baseline still judges a recorded run's rounds this way, with that caveat.

    from scaling.collector.judge import judge
    j = judge(base_rounds, new_rounds, threshold_pct=5, confidence=0.95, family=1)
    j.verdict   # "regression" | "improvement" | "same" | "undecided"
    j.reason    # one line saying why

Input: one point's per-round figures from two runs (times: larger is worse; the 25th
percentile of each round's iterations, collector/rounds.py). Each round is one value
because iterations inside a round are correlated and tell nothing about how the machine drifts
between rounds. Output: the ratio of medians (new / base), the Mann-Whitney U test's
two-sided p-value (exact for small samples), a bootstrap interval of the ratio of medians, the
minimum detectable change (MDC) these rounds allow, and the verdict:

- regression:  the U test says the change is real (p below the bar, see below) AND the new
               median is slower by more than threshold %;
- improvement: the same, faster by more than threshold %;
- same:        no change beyond the threshold: either the test found none while it could have
               seen one of the threshold's size (MDC <= threshold), or the change is real but
               within the threshold;
- undecided:   the data cannot tell: too few rounds for the test to reject at this confidence,
               or rounds so spread that a change of the threshold's size could hide (MDC >
               threshold). Never a regression.

The bar: `confidence` holds for all `family` points judged together (Bonferroni): each point
needs p < (1 - confidence) / family. A run compared point by point fails CI when any point
regresses, so the confidence must cover the whole comparison: at 5% per point, 28 independent
points of identical runs would raise at least one false alarm in 1 - 0.95**28 = 76% of pairs.
The bar also sets how many rounds a decision needs (stats.rounds_needed): 4 per run for one
point, 7 for 28 points, 8 for 100 at 95%.

A throughput (samples/s, busbw) is a work / time ratio of the same work, so judging time is
judging throughput, direction reversed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from scaling.collector import stats

VERDICTS = ("regression", "improvement", "same", "undecided")
THRESHOLD_PCT = 5.0
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Judgment:
    verdict: str
    """regression | improvement | same | undecided."""
    reason: str
    ratio: float | None
    """median(new rounds) / median(base rounds); > 1 is slower. None without data."""
    p_value: float | None
    """Mann-Whitney U, two-sided; exact without ties up to 50 rounds per run."""
    interval: tuple[float, float] | None
    """Bootstrap interval of the ratio of medians at the judgment's confidence."""
    mdc_pct: float | None
    """Smallest change (%) the test could call real with these rounds; None: none it could."""
    rounds: tuple[int, int]
    """Rounds in base and in new."""
    bar: float = 0.05
    """The p-value a real change must stay below: (1 - confidence) / family."""

    @property
    def delta_pct(self) -> float | None:
        return None if self.ratio is None else (self.ratio - 1.0) * 100.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["delta_pct"] = self.delta_pct
        d["interval_pct"] = (
            None if self.interval is None else [(v - 1.0) * 100.0 for v in self.interval]
        )
        return d


def judge(
    base,
    new,
    threshold_pct: float = THRESHOLD_PCT,
    confidence: float = CONFIDENCE,
    family: int = 1,
) -> Judgment:
    """Judge new against base: two sets of per-round figures of one point (times, > 0).
    family: how many points are judged together (the confidence covers them all)."""
    b, n = _clean(base), _clean(new)
    rounds = (len(b), len(n))
    bar = (1.0 - confidence) / max(family, 1)
    if not len(b) or not len(n):
        missing = "base" if not len(b) else "new"
        return Judgment(
            "undecided", f"no timings in {missing}", None, None, None, None, rounds, bar
        )
    ratio = float(np.median(n) / np.median(b))
    interval = stats.ratio_interval(b, n, confidence)
    mdc = stats.detectable_change(b, n, bar)
    mdc_pct = None if mdc is None else mdc * 100.0
    _, p, _ = stats.mann_whitney(b, n)
    found = dict(ratio=ratio, p_value=p, interval=interval, mdc_pct=mdc_pct, rounds=rounds)
    verdict, reason = _rounds_verdict(ratio, p, mdc_pct, rounds, threshold_pct, bar)
    return Judgment(verdict, reason, **found, bar=bar)


def change_case(delta, p, mdc, thr, bar) -> str:
    """The rule every judgment of a change shares (the rounds of two runs here, sets of runs
    in runsets.py), in the units of its caller (delta, mdc and thr alike):
    "regression" / "improvement": real (p < bar) and beyond the threshold; "within": real but
    within it; "blind": nothing seen, but the spread hides changes above the threshold;
    "same": nothing beyond the spread."""
    if p < bar and abs(delta) > thr:
        return "regression" if delta > 0 else "improvement"
    if p < bar:
        return "within"
    return "blind" if mdc > thr else "same"


def _rounds_verdict(ratio, p, mdc_pct, rounds, thr, bar) -> tuple[str, str]:
    delta = (ratio - 1.0) * 100.0
    if mdc_pct is None:
        need = stats.rounds_needed(bar)
        return "undecided", (
            f"{rounds[0]} base and {rounds[1]} new rounds: the test cannot reach "
            f"p < {bar:.2g} with fewer than {need} rounds in each run (scaling run --repeats)"
        )
    case = change_case(delta, p, mdc_pct, thr, bar)
    if case in ("regression", "improvement"):
        return case, f"{_signed(delta)} (p = {p:.2g}) beyond the {thr:g}% threshold"
    if case == "within":
        return "same", f"a real change of {_signed(delta)} (p = {p:.2g}), within {thr:g}%"
    if case == "blind":
        return "undecided", (
            f"no change the test can see (p = {p:.2g}), but rounds this spread only show "
            f"changes above {mdc_pct:.1f}%, more than the {thr:g}% threshold"
        )
    return "same", f"no change beyond noise (p = {p:.2g}; detectable: {mdc_pct:.1f}%)"


def _clean(values) -> np.ndarray:
    a = np.asarray([v for v in np.asarray(values, dtype=float).ravel() if np.isfinite(v)])
    return a[a > 0]


def _signed(pct: float) -> str:
    return f"{pct:+.1f}%"
