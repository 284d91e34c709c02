"""Small-sample statistics for judging a change: the Mann-Whitney U test (exact when it can be),
its critical values, the smallest change it can detect, and a bootstrap interval of the ratio
of medians. numpy only.

Conventions: x is the base sample, y the new one; U counts the pairs (x_i, y_j) with y_j > x_i
(ties count one half), so U near m*n means "new is larger". Under "no change" U has mean m*n/2.
Two-sided p-values throughout.
"""

from __future__ import annotations

from functools import lru_cache
from math import comb, erfc, sqrt
from statistics import NormalDist

import numpy as np

EXACT_MAX = 50
"""Exact U distribution up to this many values per sample (and no ties); normal beyond."""


@lru_cache(maxsize=256)
def _u_counts(m: int, n: int) -> np.ndarray:
    """Number of orderings of m x's and n y's giving U = 0..m*n (float: counts exceed int64).

    Recurrence: the largest value is a y (it beats all m x's: U gains m) or an x (gains 0), so
    counts(i, j) = counts(i, j - 1) shifted by i + counts(i - 1, j). Row by row over i.
    """
    prev = [np.ones(1) for _ in range(n + 1)]  # i = 0: one ordering, U = 0
    for i in range(1, m + 1):
        row = [np.ones(1)]
        for j in range(1, n + 1):
            out = np.zeros(i * j + 1)
            out[i : i + len(row[j - 1])] += row[j - 1]
            out[: len(prev[j])] += prev[j]
            row.append(out)
        prev = row
    return prev[n]


def _lower_tail(m: int, n: int) -> np.ndarray:
    """P(U <= u) for u = 0..m*n under no change (exact, no ties)."""
    counts = _u_counts(m, n)
    return np.cumsum(counts) / comb(m + n, m)


def u_statistic(x: np.ndarray, y: np.ndarray) -> float:
    diff = np.subtract.outer(np.asarray(y, float), np.asarray(x, float))
    return float((diff > 0).sum() + 0.5 * (diff == 0).sum())


def mann_whitney(x, y) -> tuple[float, float, bool]:
    """(U, two-sided p-value, exact?) for samples x (base) and y (new)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    m, n = len(x), len(y)
    u = u_statistic(x, y)
    pooled = np.concatenate([x, y])
    ties = len(np.unique(pooled)) < len(pooled)
    if not ties and m <= EXACT_MAX and n <= EXACT_MAX:
        tail = _lower_tail(m, n)
        k = int(round(min(u, m * n - u)))  # U's distribution is symmetric about m*n/2
        return u, min(1.0, 2.0 * float(tail[k])), True
    return u, _normal_p(u, m, n, pooled), False


def _normal_p(u: float, m: int, n: int, pooled: np.ndarray) -> float:
    """Normal approximation with the tie correction and a continuity correction."""
    big = m + n
    _, t = np.unique(pooled, return_counts=True)
    var = m * n / 12.0 * ((big + 1) - float((t**3 - t).sum()) / (big * (big - 1)))
    if var <= 0:
        return 1.0  # every value tied: nothing changed
    z = max(abs(u - m * n / 2.0) - 0.5, 0.0) / sqrt(var)
    return min(1.0, erfc(z / sqrt(2.0)))


def smallest_p(m: int, n: int) -> float:
    """The smallest two-sided p the exact test can give: every new value beyond every base one."""
    if m == 0 or n == 0:
        return 1.0
    return min(1.0, 2.0 / comb(m + n, m))


def critical_u(m: int, n: int, alpha: float) -> int | None:
    """The largest count c of out-of-order pairs that still rejects at alpha (two-sided, exact):
    U <= c or U >= m*n - c. None when even complete separation cannot reject."""
    if smallest_p(m, n) >= alpha:
        return None
    if m > EXACT_MAX or n > EXACT_MAX:
        z = _z(1.0 - alpha / 2.0)
        c = m * n / 2.0 - 0.5 - z * sqrt(m * n * (m + n + 1) / 12.0)
        return max(int(np.floor(c)), 0)
    tail = _lower_tail(m, n)
    return int(np.nonzero(2.0 * tail < alpha)[0].max())


def rounds_needed(alpha: float) -> int:
    """The fewest rounds per run (the same in both) with which the exact test can reject."""
    r = 1
    while smallest_p(r, r) >= alpha:
        r += 1
    return r


def detectable_change(x, y, alpha: float) -> float | None:
    """The smallest relative change the U test would call real, given these samples' spread.

    Each sample is centred on its own median (in logs); the change is the smallest shift of the
    new values that leaves no more than critical_u pairs out of order, in the worse of the two
    directions. 0.0 when neither sample varies; None when the test cannot reject at all.
    """
    m, n = len(x), len(y)
    c = critical_u(m, n, alpha)
    if c is None:
        return None
    ex = np.log(np.asarray(x, float))
    ey = np.log(np.asarray(y, float))
    pairs = np.subtract.outer(ex - np.median(ex), ey - np.median(ey)).ravel()
    # shift d slower: pairs with x_i - y_j >= d stay out of order; at most c may.
    up = np.sort(pairs)[::-1][c]
    down = np.sort(-pairs)[::-1][c]
    return float(np.expm1(max(up, down, 0.0)))


def ratio_interval(
    x, y, confidence: float, resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of median(y) / median(x); None with fewer than 2 of each.

    Rounds are resampled within each run. Seeded, so the same two runs give the same interval.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or len(y) < 2:
        return None
    rng = np.random.default_rng(seed)
    mx = np.median(x[rng.integers(0, len(x), (resamples, len(x)))], axis=1)
    my = np.median(y[rng.integers(0, len(y), (resamples, len(y)))], axis=1)
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(my / mx, [tail, 1.0 - tail])
    return float(lo), float(hi)


def _z(q: float) -> float:
    return NormalDist().inv_cdf(q)
