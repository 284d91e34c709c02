"""Drift between two runs, named once instead of counted point by point.

A machine that is a little slower today (other tenants, clocks, a noisy neighbour) makes every
point slower alike, the 1-rank latency floor and compute-only steps included. Judged point by
point, that is N "regressions" of one cause. So, over the matched points of two runs:

- each point's change is the log of its ratio of medians (new / base); the run's common change
  is the median over points, robust to a minority of points that really changed;
- a point moved with the others when its change lies within the threshold of the common
  change, or within its own noise (its minimum detectable change: a point whose rounds are
  spread 50% cannot be told apart from one that moved with the rest);
- the points "move alike" when at least ALIKE_SHARE of all points AND ALIKE_SHARE of the
  reference points (world size 1: the latency floor of the collectives, the compute-only step
  of training) moved with the others. A change of the network or of multi-rank code leaves the
  references where they were, so it is never mistaken for drift; with no reference points
  drift cannot be told from a change and is not named;
- when they move alike, the run gets one verdict, "environment shift of +x%", and each point is
  judged on what it did beyond it (its rounds divided by the common factor).

`--normalize` instead divides by the references' own change, kind by kind (collectives by the
1-rank collective floor, training by the 1-rank steps): every point is judged relative to the
run's own reference, whether or not the rest moved alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

ALIKE_SHARE = 2 / 3
MIN_POINTS = 3


@dataclass(frozen=True)
class Shift:
    factor: float
    """The common change of every point (new / base) that the points are judged beyond; 1.0
    when none is named."""
    named: bool
    """The points moved alike: one environment shift, not N regressions."""
    reason: str
    common_pct: float | None = None
    """Median change over all matched points (%)."""
    reference_pct: float | None = None
    """Median change of the reference points (world size 1), if any (%)."""
    alike_share: float | None = None
    """Share of points within the threshold of the common change."""

    @property
    def pct(self) -> float:
        return (self.factor - 1.0) * 100.0

    def to_dict(self) -> dict:
        return asdict(self) | {"pct": self.pct}


def find_shift(
    ratios: pd.Series, reference: pd.Series, threshold_pct: float, mdc_pct: pd.Series | None = None
) -> Shift:
    """Whether the points moved alike. ratios: per point median(new) / median(base) (times);
    reference: per point, whether it is a reference (world size 1); mdc_pct: per point, the
    minimum detectable change (%), NaN where unknown."""
    ok = ratios.notna() & (ratios > 0)
    logs = np.log(ratios[ok].astype(float))
    ref = reference[ok].astype(bool)
    if len(logs) < MIN_POINTS:
        return Shift(1.0, False, f"{len(logs)} matched points: too few to tell drift from change")
    noise = pd.Series(np.nan, index=logs.index) if mdc_pct is None else mdc_pct[ok]
    tol = np.maximum(
        np.log1p(threshold_pct / 100.0), np.log1p(noise.astype(float).fillna(0.0) / 100.0)
    )
    common = float(np.median(logs))
    alike = np.abs(logs - common) <= tol
    share = float(alike.mean())
    ref_pct = _pct(float(np.median(logs[ref]))) if ref.any() else None
    found = dict(common_pct=_pct(common), reference_pct=ref_pct, alike_share=share)
    if not ref.any():
        why = "no 1-rank reference points: drift cannot be told from a change"
        return Shift(1.0, False, why, **found)
    if share < ALIKE_SHARE:
        why = f"points did not move alike: {share:.0%} moved with the common {_pct(common):+.1f}%"
        return Shift(1.0, False, why, **found)
    ref_share = float(alike[ref].mean())
    if ref_share < ALIKE_SHARE:
        why = (
            f"the 1-rank references moved {ref_pct:+.1f}%, apart from the common "
            f"{_pct(common):+.1f}% ({ref_share:.0%} with it): not one shift"
        )
        return Shift(1.0, False, why, **found)
    why = (
        f"{share:.0%} of the points, the 1-rank references included ({ref_pct:+.1f}%), moved "
        f"alike by {_pct(common):+.1f}%: judged beyond it"
    )
    return Shift(float(np.exp(common)), True, why, **found)


def reference_factors(ratios: pd.Series, reference: pd.Series, kinds: pd.Series) -> pd.Series:
    """--normalize: per point, its kind's reference change (median ratio of that kind's 1-rank
    points; of all 1-rank points when its kind has none); NaN where the run has no reference."""
    ok = ratios.notna() & (ratios > 0) & reference.astype(bool)
    every = _median_ratio(ratios[ok])
    by_kind = {k: _median_ratio(ratios[ok & (kinds == k)]) for k in kinds.unique()}
    return kinds.map(lambda k: by_kind[k] if not np.isnan(by_kind[k]) else every).astype(float)


def _median_ratio(r: pd.Series) -> float:
    return float(np.exp(np.median(np.log(r.astype(float))))) if len(r) else float("nan")


def _pct(log_ratio: float) -> float:
    return float(np.expm1(log_ratio) * 100.0)
