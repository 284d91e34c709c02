"""The measured points a collective model is fitted to, and their bootstrap.

A PointSet is one curve family: one op, dtype, timing and span (intra-node or inter-node),
with the per-iteration times (the slowest rank's, as nccl-tests reports) of every
(world size, message size) point. Fits use each point's median; the bootstrap resamples each
point's iterations with replacement, so intervals say how much the measurement noise moves
a prediction (not how wrong the model is: the holdout says that).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from scaling.collector.collectives import slowest_per_iteration
from scaling.collector.predict.hockney import CollectiveFit, fit_collective, fit_shape

BOOTSTRAP_REPS = 200
INTERVAL = (5.0, 95.0)
"""Percentiles of the bootstrap distribution: a 90% interval."""


@dataclass
class PointSet:
    op: str
    dtype: str
    timing: str
    span: str
    n: np.ndarray
    size: np.ndarray
    times: list[np.ndarray]
    """Per-iteration times (s) of each point; a single value where only a summary exists."""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.op, self.dtype, self.timing, self.span)

    @property
    def world_sizes(self) -> list[int]:
        return sorted({int(k) for k in self.n})

    def medians(self) -> np.ndarray:
        return np.array([np.median(t) for t in self.times])

    def without(self, n: int) -> PointSet:
        keep = self.n != n
        times = [t for t, k in zip(self.times, keep, strict=True) if k]
        return replace(self, n=self.n[keep], size=self.size[keep], times=times)

    def at(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(sizes, median times) measured at world size n."""
        m = self.n == n
        return self.size[m], self.medians()[m]

    def resampled_medians(self, reps: int, rng: np.random.Generator) -> np.ndarray:
        """(reps, points): the median of each point's iterations drawn with replacement."""
        out = np.empty((reps, len(self.times)))
        for j, t in enumerate(self.times):
            draws = rng.integers(0, len(t), size=(reps, len(t)))
            out[:, j] = np.median(t[draws], axis=1)
        return out

    def fit(self) -> CollectiveFit:
        return fit_collective(self.op, self.n, self.size, self.medians())

    def bootstrap(self, fit: CollectiveFit, reps: int, rng: np.random.Generator):
        """Refits of fit's shape (law, change-point) to resampled medians; [] without repeats."""
        if all(len(t) < 2 for t in self.times):
            return []
        los = [s.lo_bytes for s in fit.segments]
        return [
            fit_shape(self.op, self.n, self.size, med, fit.law, los)
            for med in self.resampled_medians(reps, rng)
        ]


def collective_points(samples: pd.DataFrame) -> list[PointSet]:
    """One PointSet per op x dtype x timing x span, from a run's raw samples.

    Only the full world group at more than one rank: one rank moves no data (its time is a
    local copy, not a point on the communication curve), and the intra/inter views of a
    multi-node world size measure sub-groups of another shape.
    """
    slow = slowest_per_iteration(samples)
    if slow.empty:
        return []
    slow = slow[(slow["group"] == "world") & (slow["ranks"].astype(int) > 1)]
    sets = []
    keys = ["op", "dtype", "timing", "span"]
    for key, g in slow.groupby(keys, sort=True):
        pts = g.groupby(["ranks", "size_bytes"], sort=True)["time_s"]
        index, times = [], []
        for (n, size), t in pts:
            index.append((int(n), float(size)))
            times.append(t.to_numpy(dtype=float))
        arr = np.array(index, dtype=float)
        sets.append(PointSet(*key, n=arr[:, 0], size=arr[:, 1], times=times))
    return sets


def all_reduce_sets(sets: list[PointSet]) -> dict[str, PointSet]:
    """The all_reduce curves a DDP step is modelled with, per span.

    DDP all-reduces fp32 gradients back to back: float32 first, then blocking timing (the
    default sweep), then whatever else was measured.
    """
    chosen = [s for s in sets if s.op == "all_reduce"]
    if not chosen:
        return {}
    best = min((s.dtype != "float32", s.timing != "blocking", s.dtype, s.timing) for s in chosen)
    return {s.span: s for s in chosen if (s.dtype, s.timing) == best[2:]}


def interval(values) -> tuple[float | None, float | None]:
    """The bootstrap interval of a list of replicate values (None when there are none)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return None, None
    lo, hi = np.percentile(v, INTERVAL)
    return float(lo), float(hi)
