"""The paired judge of an interleaved rung: is candidate A better than B, from rounds taken
close in time?

    judge = paired_judge(threshold_pct=3.0, confidence=0.95)
    verdict = judge(a_rounds, b_rounds, passes=2)   # "better" | "worse" | "tie" | "undecided"
    j = paired_judgment(a_rounds, b_rounds, 2, 3.0, 0.95); j.verdict, j.reason, j.ratio

At an interleaved rung (halving.py) each candidate is measured in `passes` calls of k rounds,
the candidates' order reversed from one pass to the next (A B, B A, A B, ...). Round j of A's
pass p and round j of B's pass p are a pair, measured one call apart; their log ratio d
carries A's difference from B plus whatever the machine drifted between the two calls.
Adjacent passes run in opposite orders, so a drift that moves steadily adds +x to one pass's
pairs and -x to the next's:

- the estimate is the mean of the passes' median log ratios: the drift cancels in it;
- the test is Wilcoxon's signed-rank test (exact) over all pairs: a drift larger than the
  difference splits the pairs' signs and the test cannot reject;
- better / worse: the test rejects at p < 1 - confidence, the estimate exceeds the threshold,
  and every pass's median ratio points the same way (one call's bad moment cannot decide);
- tie: a real change within the threshold, or an equivalence shown (both one-sided tests of
  "the change is as large as the threshold" reject);
- undecided: otherwise, or when the rounds do not pair (a pass lost rounds).

The unpaired judge (judging.trial_judge) pools each side's rounds: a drift then widens both
sides' spread and can rank them; tests/test_tune_interleave.py plants one that fools it.
Rounds within a call are not independent of each other (they share the call), so the test's
p-value is optimistic when calls differ by more than their rounds show; the agreement of the
passes is the guard against that, and the winner's full-length rerun is what tune reports.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

PairedJudge = Callable[[Sequence[float], Sequence[float], int], str]
"""judge(a_rounds, b_rounds, passes) -> better | worse | tie | undecided (about A)."""


@dataclass(frozen=True)
class PairedJudgment:
    verdict: str
    reason: str
    ratio: float | None
    """A's throughput / B's, drift cancelled (exp of the estimate); None: no pairs."""
    p_value: float | None
    pairs: int


def paired_judge(threshold_pct: float, confidence: float = 0.95) -> PairedJudge:
    """The paired judgment of A's rounds against B's, both measured in the same passes."""

    def judge(a_rounds: Sequence[float], b_rounds: Sequence[float], passes: int) -> str:
        return paired_judgment(a_rounds, b_rounds, passes, threshold_pct, confidence).verdict

    judge.threshold_pct, judge.confidence = threshold_pct, confidence  # type: ignore[attr-defined]
    judge.label = (  # type: ignore[attr-defined]
        f"paired: Wilcoxon signed-rank over rounds measured in the same pass, p < "
        f"{1 - confidence:.2g}, threshold {threshold_pct:g}%, every pass agreeing"
    )
    return judge


def paired_judgment(
    a: Sequence[float], b: Sequence[float], passes: int, threshold_pct: float, confidence: float
) -> PairedJudgment:
    """A (throughputs per round, pass after pass) against B measured in the same passes."""
    n = len(a)
    if n == 0 or n != len(b) or passes < 1 or n % passes:
        why = f"the rounds do not pair ({len(a)} and {len(b)} rounds in {passes} passes)"
        return PairedJudgment("undecided", why, None, None, 0)
    if min(min(a), min(b)) <= 0:
        return PairedJudgment("undecided", "a round without throughput", None, None, 0)
    d = np.log(np.asarray(a, float)) - np.log(np.asarray(b, float))
    k = n // passes
    per_pass = [float(np.median(d[p * k : (p + 1) * k])) for p in range(passes)]
    est = statistics.fmean(per_pass)
    ratio = math.exp(est)
    bar = 1.0 - confidence
    thr = math.log1p(threshold_pct / 100.0)
    delta = f"{(ratio - 1) * 100:+.1f}%"
    if smallest_p(n) >= bar:
        why = f"{n} pairs: the signed-rank test cannot reach p < {bar:.2g} with so few"
        return PairedJudgment("undecided", why, ratio, None, n)
    p = signed_rank_p(d)
    agree = all(x > 0 for x in per_pass) or all(x < 0 for x in per_pass)
    if p < bar and abs(est) > thr:
        if not agree:
            passes_pct = ", ".join(f"{math.expm1(x) * 100:+.1f}%" for x in per_pass)
            why = f"{delta} (p = {p:.2g}) but the passes disagree ({passes_pct}): drift"
            return PairedJudgment("undecided", why, ratio, p, n)
        kind = "better" if est > 0 else "worse"
        return PairedJudgment(kind, f"{delta} (p = {p:.2g}) beyond {threshold_pct:g}%", ratio, p, n)
    if p < bar:
        why = f"a real change of {delta} (p = {p:.2g}), within {threshold_pct:g}%"
        return PairedJudgment("tie", why, ratio, p, n)
    below = signed_rank_p(d - thr, "less")
    above = signed_rank_p(d + thr, "greater")
    if below < bar and above < bar:
        why = f"{delta}: shown within +-{threshold_pct:g}% (p = {max(below, above):.2g})"
        return PairedJudgment("tie", why, ratio, p, n)
    return PairedJudgment("undecided", f"{delta} (p = {p:.2g}): pairs too spread", ratio, p, n)


def signed_rank_p(d, side: str = "two-sided") -> float:
    """Wilcoxon signed-rank test of "d is centred on 0", exact (zeros dropped, tied |d| share
    their average rank). side: two-sided | greater (d > 0) | less (d < 0)."""
    d = np.asarray(d, float)
    d = d[d != 0]
    n = len(d)
    if n == 0:
        return 1.0
    ranks = _average_ranks(np.abs(d))
    doubled = tuple(int(round(2 * r)) for r in ranks)  # half ranks as integers
    plus = sum(r for r, x in zip(doubled, d, strict=True) if x > 0)
    counts = _sums(tuple(sorted(doubled)))
    total = counts.sum()
    upper = counts[plus:].sum() / total  # P(W+ >= plus)
    lower = counts[: plus + 1].sum() / total  # P(W+ <= plus)
    if side == "greater":
        return float(upper)
    if side == "less":
        return float(lower)
    return float(min(1.0, 2.0 * min(upper, lower)))


def smallest_p(n: int) -> float:
    """The smallest two-sided p the exact signed-rank test reaches with n pairs."""
    return min(1.0, 2.0 / 2**n)


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    sx = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sx[j + 1] == sx[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


@lru_cache(maxsize=64)
def _sums(ranks: tuple[int, ...]) -> np.ndarray:
    """How many sign patterns give each sum of the positive ranks (integers)."""
    counts = np.zeros(sum(ranks) + 1)
    counts[0] = 1.0
    for r in ranks:
        counts[r:] = counts[r:] + counts[: len(counts) - r].copy()
    return counts
