"""The round-level judgment tune and validate --baseline share: U test, bootstrap, MDC, verdicts."""

import itertools
from math import comb

import numpy as np
import pytest

from scaling.collector import stats
from scaling.collector.judge import judge


def rounds(rng, n=5, level=1.0, spread=0.02):
    """n round medians around `level`, log-normal with `spread`."""
    return level * np.exp(rng.normal(0.0, spread, n))


@pytest.mark.parametrize("m,n", [(1, 1), (2, 3), (4, 4), (5, 5), (3, 6)])
def test_exact_u_distribution_matches_enumeration(m, n):
    counts = np.zeros(m * n + 1)
    for xs in itertools.combinations(range(m + n), m):
        ys = [v for v in range(m + n) if v not in xs]
        counts[int(stats.u_statistic(np.array(xs), np.array(ys)))] += 1
    assert counts.sum() == comb(m + n, m)
    assert np.array_equal(stats._u_counts(m, n), counts)


def test_u_test_p_values():
    base, new = [1, 2, 3, 4, 5], [6, 7, 8, 9, 10]
    u, p, exact = stats.mann_whitney(base, new)
    assert (u, exact) == (25.0, True) and p == pytest.approx(2 / 252)  # complete separation
    assert stats.mann_whitney(base, base)[1] == 1.0  # all tied: no evidence at all
    # one pair out of order out of 25: P(U <= 1) = 2/252, two-sided 4/252
    assert stats.mann_whitney([1, 2, 3, 4, 6.5], [6, 7, 8, 9, 10])[1] == pytest.approx(4 / 252)
    # large samples use the normal approximation and agree with the exact tail closely
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 60), rng.normal(0.5, 1, 60)
    assert stats.mann_whitney(a, b)[2] is False and stats.mann_whitney(a, b)[1] < 0.05


def test_too_few_rounds_can_never_reject():
    assert stats.critical_u(3, 3, 0.05) is None  # smallest p with 3 + 3 is 0.1
    assert stats.critical_u(4, 4, 0.05) == 0 and stats.critical_u(5, 5, 0.05) == 2
    assert stats.rounds_needed(0.05) == 4 and stats.rounds_needed(0.01) == 5


def test_known_shift_is_found_with_its_size():
    rng = np.random.default_rng(0)
    base = rounds(rng)
    j = judge(base, base * 1.25, threshold_pct=5)
    assert j.verdict == "regression" and j.delta_pct == pytest.approx(25.0)
    assert j.p_value == pytest.approx(2 / 252)
    lo, hi = j.interval
    assert lo < 1.25 < hi or lo == pytest.approx(1.25)  # the interval holds the planted ratio
    assert judge(base, base * 0.8).verdict == "improvement"
    assert "beyond the 5% threshold" in j.reason


def test_no_shift_is_not_a_regression_in_many_draws():
    """The false-alarm rate of the judgment on pure noise stays far below 1 - confidence."""
    rng = np.random.default_rng(2)
    verdicts = [judge(rounds(rng), rounds(rng)).verdict for _ in range(400)]
    assert verdicts.count("regression") == 0 and verdicts.count("improvement") == 0
    # 2% spread: most pairs of runs could have seen a 5% change (MDC < 5%), so "same"
    assert verdicts.count("same") > 250
    assert set(verdicts) == {"same", "undecided"}


def test_undecided_with_too_few_rounds_even_for_a_big_change():
    j = judge([1.0, 1.01, 0.99], [2.0, 2.02, 1.98])
    assert j.verdict == "undecided" and j.p_value == pytest.approx(0.1)
    assert j.mdc_pct is None
    assert "fewer than 4 rounds" in j.reason and "--repeats" in j.reason
    one = judge([1.0], [3.0])  # old runs: one round each
    assert one.verdict == "undecided" and one.ratio == pytest.approx(3.0)


def test_real_change_within_threshold_is_same():
    rng = np.random.default_rng(3)
    base = rounds(rng, spread=0.002)
    j = judge(base, base * 1.03, threshold_pct=5)
    assert j.verdict == "same" and j.p_value < 0.05 and "within 5%" in j.reason


def test_spread_rounds_make_it_undecided_not_same():
    rng = np.random.default_rng(4)
    base, new = rounds(rng, spread=0.3), rounds(rng, spread=0.3)
    j = judge(base, new, threshold_pct=5)
    assert j.verdict == "undecided" and j.mdc_pct > 5 and "threshold" in j.reason


def test_detectable_change_grows_with_spread():
    rng = np.random.default_rng(5)
    tight = stats.detectable_change(rounds(rng, spread=0.01), rounds(rng, spread=0.01), 0.05)
    loose = stats.detectable_change(rounds(rng, spread=0.1), rounds(rng, spread=0.1), 0.05)
    assert 0 < tight < 0.05 < loose
    flat = [1.0] * 5
    assert stats.detectable_change(flat, flat, 0.05) == 0.0


def test_bootstrap_interval_covers_the_true_ratio():
    rng = np.random.default_rng(6)
    covered = 0
    for _ in range(200):
        lo, hi = stats.ratio_interval(rounds(rng, 9), rounds(rng, 9, 1.1), 0.95)
        covered += lo <= 1.1 <= hi
    assert covered >= 170  # percentile bootstrap of medians runs a little narrow at 9 rounds
    assert stats.ratio_interval([1.0], [1.0, 2.0], 0.95) is None
