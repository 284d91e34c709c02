"""Alpha-beta (Hockney) model of one collective, fitted jointly over message size S and ranks n.

    time(S, n) = alpha(n) + S * c(n) / B

- c(n) is the op's nccl-tests busbw factor (all_reduce 2(n-1)/n, all_gather (n-1)/n, ...), so
  B is the bus bandwidth: the ring model's claim is that it does not change with n. The
  Hockney beta(n) (algorithm bandwidth) is B / c(n).
- alpha(n) = a0 + a1 * g(n), with g(n) = n - 1 for a ring (one hop per rank) or log2(n) for a
  tree (one hop per level). One world size cannot tell a0 from a1: alpha is then held constant.
- Least squares on relative error (times span decades; a 1% miss at 8 B and at 8 GiB count the
  same), every parameter >= 0.
- Change-point in S: NCCL picks protocol (LL, LL128, Simple) and algorithm by size, so small
  and large messages may need their own (alpha, B). The best single break between two measured
  sizes (3 sizes or more on each side) is kept only when it lowers BIC by more than 2
  ("positive evidence", Kass & Raftery 1995); BIC = m ln(SSE/m) + k ln(m) on the relative
  residuals, k = 3 parameters per segment (2 with alpha held constant) + 1 for the break.
- Law: with 3 or more world sizes, ring and tree are both fitted and the lower relative error
  wins unless the two are within 5%, where ring is kept (it extrapolates to the larger, more
  cautious time). With 2 world sizes both laws pass through the points exactly: ring is
  assumed, and said so.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace

import numpy as np

from scaling.collector.formulas import busbw_factor
from scaling.config.units import format_bytes

MIN_SIZES_PER_SEGMENT = 3
BIC_EVIDENCE = 2.0
LAW_TIE = 0.05
# Relative residuals below 1e-6 are numerical noise: floor the variance so a perfect fit of
# synthetic data does not send BIC to minus infinity.
_VAR_FLOOR = 1e-12


def g(n, law: str):
    """The alpha growth term: ring n - 1, tree log2(n), constant 0."""
    n = np.asarray(n, dtype=float)
    if law == "ring":
        return n - 1.0
    if law == "tree":
        return np.log2(n)
    return np.zeros_like(n)


def factor(op: str, n) -> np.ndarray:
    """busbw factor c(n) as an array (n = 1 gives 0: one rank moves no data)."""
    n = np.atleast_1d(np.asarray(n, dtype=int))
    return np.array([busbw_factor(op, int(k)) or 0.0 for k in n.ravel()]).reshape(n.shape)


@dataclass
class Segment:
    lo_bytes: float
    """Smallest S this segment covers (0 for the first)."""
    a0_s: float
    a1_s: float
    inv_bw: float
    """1 / B in seconds per byte (0: the data showed no size dependence)."""

    @property
    def busbw_gbps(self) -> float:
        return math.inf if self.inv_bw <= 0 else 1.0 / self.inv_bw / 1e9

    def to_dict(self, law: str) -> dict:
        return {
            "from_bytes": self.lo_bytes,
            "alpha_us": {"a0": self.a0_s * 1e6, "a1": self.a1_s * 1e6, "g": _G_TEXT[law]},
            "busbw_gbps": None if math.isinf(self.busbw_gbps) else self.busbw_gbps,
        }


_G_TEXT = {"ring": "n - 1", "tree": "log2(n)", "constant": "0 (held constant)"}


@dataclass
class CollectiveFit:
    op: str
    law: str
    law_reason: str
    segments: list[Segment]
    break_reason: str
    world_sizes: list[int]
    size_range: tuple[float, float]
    rel_rms: float
    """Root mean square of the relative residuals of the fit (its own data)."""
    notes: list[str] = field(default_factory=list)

    @property
    def break_bytes(self) -> float | None:
        return self.segments[1].lo_bytes if len(self.segments) > 1 else None

    def terms(self, size, n) -> tuple[np.ndarray, np.ndarray]:
        """(latency, bandwidth) seconds at sizes S and rank counts n (broadcast together)."""
        size, n = np.broadcast_arrays(
            np.atleast_1d(np.asarray(size, float)), np.atleast_1d(n).astype(float)
        )
        lat, bw = np.zeros(size.shape), np.zeros(size.shape)
        gn, c = g(n, self.law), factor(self.op, n.astype(int))
        for i, seg in enumerate(self.segments):
            hi = self.segments[i + 1].lo_bytes if i + 1 < len(self.segments) else math.inf
            m = (size >= seg.lo_bytes) & (size < hi) if i else size < hi
            lat[m] = seg.a0_s + seg.a1_s * gn[m]
            bw[m] = size[m] * c[m] * seg.inv_bw
        return lat, bw

    def time(self, size, n) -> np.ndarray:
        lat, bw = self.terms(size, n)
        return lat + bw

    def with_bandwidth(self, busbw_gbps: float) -> CollectiveFit:
        """The same fit with the large-message bus bandwidth replaced (a what-if)."""
        segs = self.segments[:-1] + [replace(self.segments[-1], inv_bw=1.0 / (busbw_gbps * 1e9))]
        return replace(self, segments=segs)

    def with_alpha(self, alpha_s: float) -> CollectiveFit:
        """The same fit with alpha(n) replaced by a constant in every segment (a what-if)."""
        segs = [replace(s, a0_s=alpha_s, a1_s=0.0) for s in self.segments]
        return replace(self, segments=segs)

    def to_dict(self) -> dict:
        return {
            "op": self.op,
            "law": self.law,
            "law_reason": self.law_reason,
            "change_point_bytes": self.break_bytes,
            "change_point_reason": self.break_reason,
            "segments": [s.to_dict(self.law) for s in self.segments],
            "world_sizes": self.world_sizes,
            "size_range_bytes": list(self.size_range),
            "fit_rel_rms_pct": 100 * self.rel_rms,
            "notes": self.notes,
        }


# -- least squares ---------------------------------------------------------------------------


def _design(op: str, n: np.ndarray, size: np.ndarray, law: str) -> np.ndarray:
    x = size * factor(op, n)
    if law == "constant":
        return np.column_stack([np.ones_like(x), x])
    return np.column_stack([np.ones_like(x), g(n, law), x])


def nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """min ||a p - b|| with p >= 0, by trying every subset of free columns (there are <= 3)."""
    k = a.shape[1]
    best, best_sse = np.zeros(k), float(b @ b)
    for r in range(1, k + 1):
        for cols in itertools.combinations(range(k), r):
            sol, *_ = np.linalg.lstsq(a[:, cols], b, rcond=None)
            if np.any(sol < 0):
                continue
            p = np.zeros(k)
            p[list(cols)] = sol
            sse = float(np.sum((a @ p - b) ** 2))
            if sse < best_sse - 1e-15:
                best, best_sse = p, sse
    return best


def _solve(op, n, size, t, law) -> tuple[np.ndarray, float]:
    """Parameters (a0, a1, 1/B) of one segment and its sum of squared relative residuals."""
    a = _design(op, n, size, law) / t[:, None]
    p = nnls(a, np.ones_like(t))
    sse = float(np.sum((a @ p - 1.0) ** 2))
    if law == "constant":
        p = np.array([p[0], 0.0, p[1]])
    return p, sse


def _bic(sse: float, m: int, k: int) -> float:
    return m * math.log(max(sse / m, _VAR_FLOOR)) + k * math.log(m)


@dataclass
class _Shape:
    law: str
    lo_bytes: list[float]
    """Start of each segment: [0] or [0, break]."""
    sse: float
    break_reason: str


def _segments_sse(op, n, size, t, law, los) -> tuple[list[Segment], float]:
    segs, total = [], 0.0
    bounds = list(los[1:]) + [math.inf]
    for lo, hi in zip(los, bounds, strict=True):
        m = (size >= lo) & (size < hi)
        p, sse = _solve(op, n[m], size[m], t[m], law)
        segs.append(Segment(lo, p[0], p[1], p[2]))
        total += sse
    return segs, total


def _best_shape(op, n, size, t, law) -> _Shape:
    k = 2 if law == "constant" else 3
    m = len(t)
    _, sse1 = _segments_sse(op, n, size, t, law, [0.0])
    sizes = np.unique(size)
    best: tuple[float, float] | None = None
    for j in range(MIN_SIZES_PER_SEGMENT, len(sizes) - MIN_SIZES_PER_SEGMENT + 1):
        _, sse2 = _segments_sse(op, n, size, t, law, [0.0, float(sizes[j])])
        if best is None or sse2 < best[1]:
            best = (float(sizes[j]), sse2)
    bic1 = _bic(sse1, m, k)
    if best is None:
        why = f"no change-point: {len(sizes)} sizes (a break needs {MIN_SIZES_PER_SEGMENT} on each side)"
        return _Shape(law, [0.0], sse1, why)
    bic2 = _bic(best[1], m, 2 * k + 1)
    if bic1 - bic2 > BIC_EVIDENCE:
        why = f"change-point at {format_bytes(best[0])}: BIC {bic1:.1f} -> {bic2:.1f} (kept: better by > {BIC_EVIDENCE:g})"
        return _Shape(law, [0.0, best[0]], best[1], why)
    why = f"no change-point: the best break ({format_bytes(best[0])}) improves BIC only {bic1:.1f} -> {bic2:.1f}"
    return _Shape(law, [0.0], sse1, why)


def _choose_law(op, n, size, t) -> tuple[_Shape, str]:
    ns = sorted({int(k) for k in n})
    if len(ns) == 1:
        return (
            _best_shape(op, n, size, t, "constant"),
            f"one world size (n={ns[0]}): alpha(n) cannot be told from a constant, held constant",
        )
    if len(ns) == 2:
        return (
            _best_shape(op, n, size, t, "ring"),
            "two world sizes fit ring (n - 1) and tree (log2 n) exactly: ring assumed "
            "(NCCL's large-message algorithm, and the larger extrapolation)",
        )
    ring, tree = _best_shape(op, n, size, t, "ring"), _best_shape(op, n, size, t, "tree")
    m = len(t)
    r_ring, r_tree = math.sqrt(ring.sse / m), math.sqrt(tree.sse / m)
    sizes = ", ".join(map(str, ns))
    nums = f"relative RMS error {100 * r_ring:.2f}% (ring) vs {100 * r_tree:.2f}% (tree) over n = {sizes}"
    if r_tree < (1 - LAW_TIE) * r_ring:
        return tree, f"tree (log2 n) fits better: {nums}"
    if r_ring < (1 - LAW_TIE) * r_tree:
        return ring, f"ring (n - 1) fits better: {nums}"
    return (
        ring,
        f"ring and tree within {100 * LAW_TIE:.0f}% ({nums}): ring kept, the larger extrapolation",
    )


def fit_collective(op: str, n, size, t) -> CollectiveFit:
    """Fit the model to points (n_i, S_i, t_i): t in seconds, typically the per-point median."""
    n, size, t = (np.asarray(v, dtype=float) for v in (n, size, t))
    if len(t) == 0 or np.any(t <= 0):
        raise ValueError("need positive times to fit")
    shape, why = _choose_law(op, n, size, t)
    return fit_shape(op, n, size, t, shape.law, shape.lo_bytes, why, shape.break_reason)


def fit_shape(op, n, size, t, law, lo_bytes, law_reason="", break_reason="") -> CollectiveFit:
    """Refit the parameters of a fixed shape (law and change-point): bootstrap replicates."""
    n, size, t = (np.asarray(v, dtype=float) for v in (n, size, t))
    segs, sse = _segments_sse(op, n, size, t, law, lo_bytes)
    return CollectiveFit(
        op=op,
        law=law,
        law_reason=law_reason,
        segments=segs,
        break_reason=break_reason,
        world_sizes=sorted({int(k) for k in n}),
        size_range=(float(size.min()), float(size.max())),
        rel_rms=math.sqrt(sse / len(t)),
    )


def plateau_busbw(busbw_by_n: dict[int, float]) -> float:
    """The flat-in-n bus bandwidth that best fits plateau figures, in relative error.

    The model's large-message limit: t = S c(n) / B. With b_i = measured busbw, the relative
    residual of 1/B = u is b_i u - 1, minimised by u = sum(b) / sum(b^2).
    """
    b = np.array(list(busbw_by_n.values()), dtype=float)
    return float(np.sum(b**2) / np.sum(b))
