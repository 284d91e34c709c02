"""Drift between two runs, named once instead of counted point by point.

A machine that is a little slower today (other tenants, clocks, a noisy neighbour) makes every
point slower alike, the 1-rank latency floor and compute-only steps included. Judged point by
point, that is N "regressions" of one cause. So, over the matched points of two runs:

- each point's change is the log of its ratio of medians (new / base);
- points are grouped in classes, a kind at a world size ("collective at 2 ranks", "training
  at 1 rank"): the points of a class share their cause, so each class gets one vote however many
  message sizes it has (13 latency-floor sizes are one floor, not 13 witnesses). A class's change
  is its median; its noise the median of its points' minimum detectable changes over the square
  root of their number (the noise of a median);
- only a class whose noise is within the threshold can tell a shift: a noisier one neither
  confirms nor contradicts one (its points are undecided anyway), and a shift estimated from it
  would be noise that every point is then judged against;
- the run's common change is the median of those classes' changes, weighted by the inverse
  square of their noise, and they "move alike" when each lies within the threshold of it, a
  reference class (world size 1: the latency floor of the collectives, the compute-only step of
  training) and another class among them. A change of the network or of multi-rank code leaves
  the references where they were, so it is never mistaken for drift; without a reference class
  drift cannot be told from a change and is not named;
- when they move alike, the run gets one verdict, "environment shift of +x%", and each point is
  judged on what it did beyond it (its rounds divided by the common factor).

`--normalize` instead divides by the references' own change, kind by kind (collectives by the
1-rank collective floor, training by the 1-rank steps): every point is judged relative to the
run's own reference, whether or not the rest moved alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Shift:
    factor: float
    """The common change of every point (new / base) that the points are judged beyond; 1.0
    when none is named."""
    named: bool
    """The classes moved alike: one environment shift, not N regressions."""
    reason: str
    common_pct: float | None = None
    """Weighted median of the classes' changes (%)."""
    reference_pct: float | None = None
    """Median change of the reference classes (world size 1), if any (%)."""
    classes: dict[str, float] = field(default_factory=dict)
    """Each class's change (%), e.g. {"collective at 1 rank": 12.0}."""

    @property
    def pct(self) -> float:
        return (self.factor - 1.0) * 100.0

    def to_dict(self) -> dict:
        return asdict(self) | {"pct": self.pct}


def class_label(kind: str, world_size: int) -> str:
    return f"{kind} at {int(world_size)} rank{'s' if int(world_size) != 1 else ''}"


def find_shift(
    ratios: pd.Series,
    reference: pd.Series,
    classes: pd.Series,
    threshold_pct: float,
    mdc_pct: pd.Series | None = None,
) -> Shift:
    """Whether the classes of points moved alike. Per point: ratios, median(new) / median(base)
    (times); reference, whether it is a reference (world size 1); classes, its class label;
    mdc_pct, its minimum detectable change (%, NaN where unknown)."""
    ok = ratios.notna() & (ratios > 0)
    noise = pd.Series(np.nan, index=ratios.index) if mdc_pct is None else mdc_pct
    pts = pd.DataFrame(
        {
            "log": np.log(ratios[ok].astype(float)),
            "ref": reference[ok].astype(bool),
            "cls": classes[ok],
            "noise": np.log1p(noise[ok].astype(float).fillna(0.0) / 100.0),
        }
    )
    thr = np.log1p(threshold_pct / 100.0)
    g = pts.groupby("cls", sort=True)
    per = pd.DataFrame({"log": g["log"].median(), "ref": g["ref"].first(), "n": g.size()})
    per["noise"] = g["noise"].median() / np.sqrt(per["n"])
    changes = {c: _pct(v) for c, v in per["log"].items()}
    tight = per[per["noise"] <= thr]
    if not tight["ref"].any() or tight["ref"].all():
        why = _untold(per, tight, threshold_pct)
        return Shift(1.0, False, why, classes=changes)
    common = _weighted_median(tight["log"], 1.0 / np.maximum(tight["noise"], thr / 4) ** 2)
    ref_pct = _pct(float(np.median(tight.loc[tight["ref"], "log"])))
    found = dict(common_pct=_pct(common), reference_pct=ref_pct, classes=changes)
    listing = ", ".join(f"{c} {changes[c]:+.1f}%" for c in tight.index)
    if (np.abs(tight["log"] - common) > thr).any():
        return Shift(1.0, False, f"the classes did not move alike ({listing})", **found)
    why = f"every class, the 1-rank references included, moved alike ({listing}): judged beyond it"
    return Shift(float(np.exp(common)), True, why, **found)


def _untold(per: pd.DataFrame, tight: pd.DataFrame, threshold_pct: float) -> str:
    """Why no shift can be told: which kind of class is missing or too noisy."""
    if not per["ref"].any():
        return "no 1-rank reference points: drift cannot be told from a change"
    if per["ref"].all():
        return "only 1-rank points: drift cannot be told from a change"
    missing = "1-rank reference" if not tight["ref"].any() else "multi-rank"
    return f"no {missing} class is steady within {threshold_pct:g}%: too noisy to tell drift"


def reference_factors(ratios: pd.Series, reference: pd.Series, kinds: pd.Series) -> pd.Series:
    """--normalize: per point, its kind's reference change (median ratio of that kind's 1-rank
    points; of all 1-rank points when its kind has none); NaN where the run has no reference."""
    ok = ratios.notna() & (ratios > 0) & reference.astype(bool)
    every = _median_ratio(ratios[ok])
    by_kind = {k: _median_ratio(ratios[ok & (kinds == k)]) for k in kinds.unique()}
    return kinds.map(lambda k: by_kind[k] if not np.isnan(by_kind[k]) else every).astype(float)


def _weighted_median(values: pd.Series, weights: pd.Series) -> float:
    """The value where half the weight lies on either side: a noisy class pulls the common
    change less than a tight one."""
    order = np.argsort(values.to_numpy())
    v, w = values.to_numpy()[order], weights.to_numpy()[order]
    cum = np.cumsum(w)
    return float(v[np.searchsorted(cum, cum[-1] / 2.0)])


def _median_ratio(r: pd.Series) -> float:
    return float(np.exp(np.median(np.log(r.astype(float))))) if len(r) else float("nan")


def _pct(log_ratio: float) -> float:
    return float(np.expm1(log_ratio) * 100.0)
