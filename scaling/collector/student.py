"""Student's t distribution without scipy: the two-sided p-value and the quantile a run-level
test needs (collector/runsets.py).

    from scaling.collector.student import two_sided_p, quantile
    two_sided_p(2.5, df=8)     # 0.0369
    quantile(0.975, df=8)      # 2.306

The tail comes from the regularised incomplete beta function, P(|T| > t) = I_x(df/2, 1/2)
with x = df / (df + t^2), evaluated by its continued fraction (modified Lentz), which
converges quickly for x < (a + 1) / (a + b + 2); the other side uses the symmetry
I_x(a, b) = 1 - I_{1-x}(b, a). The quantile is found by bisection on the p-value: a few dozen
evaluations, cached by (q, df): a comparison asks for the same few many times.
"""

from __future__ import annotations

from functools import lru_cache
from math import exp, lgamma, log

_EPS = 1e-14
_TINY = 1e-300


def _beta_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of I_x(a, b) (Lentz's method)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 300):
        for num in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + num / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPS:
            break
    return h


def incomplete_beta(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta function I_x(a, b), 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log(1.0 - x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(x, a, b) / a
    return 1.0 - front * _beta_fraction(1.0 - x, b, a) / b


def two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with df degrees of freedom (df > 0)."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, not {df}")
    return incomplete_beta(df / (df + t * t), df / 2.0, 0.5)


@lru_cache(maxsize=4096)
def quantile(q: float, df: float) -> float:
    """The t value below which a share q of the distribution lies (0.5 < q < 1)."""
    if not 0.5 < q < 1.0:
        raise ValueError(f"quantile {q} is not between 0.5 and 1")
    target = 2.0 * (1.0 - q)  # the two-sided p-value at the quantile
    lo, hi = 0.0, 1.0
    while two_sided_p(hi, df) > target:
        hi *= 2.0
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if two_sided_p(mid, df) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-10 * max(hi, 1.0):
            break
    return (lo + hi) / 2.0
