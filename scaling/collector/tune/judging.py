"""The seam where tune asks "is candidate A better than B beyond noise?".

    verdict = judge(a_rounds, b_rounds)   # "better" | "worse" | "tie" | "undecided"

Inputs are per-round figures of a throughput (samples/s: larger is better), one value per
round (each the median of that round's steps). The verdict is about A:

- better / worse: A's throughput is higher / lower than B's beyond both trials' spread;
- tie:            the two are the same within the judgment's threshold, and the rounds are
                  tight enough to have shown a difference of that size;
- undecided:      the rounds cannot tell (too few, or too spread).

Tune never breaks a tie or an undecided pair by the medians: the search keeps both where
the budget allows and reports them as not separated.

PLACEHOLDER: `range_judge` below stands in until issue 15's judgment lands
(scaling/collector/judge.py: Mann-Whitney U over round medians, bootstrap interval of the
ratio of medians, minimum detectable change). It MUST be replaced by that function, then
the same one `scaling compare` uses. Until then it is deliberately timid: it calls a
difference only when the two ranges of rounds do not overlap at all, and never says "tie".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

VERDICTS = ("better", "worse", "tie", "undecided")
Judge = Callable[[Sequence[float], Sequence[float]], str]
"""judge(a_rounds, b_rounds) -> one of VERDICTS (about A, throughputs: higher is better)."""

MIN_ROUNDS = 4
"""Fewest rounds per side before the placeholder calls a difference. Two identical
candidates' ranges are disjoint by chance with probability 2 / C(2k, k) for k rounds each:
10% at 3, 2.9% at 4, 0.8% at 5, 0.2% at 6."""


def range_judge(a_rounds: Sequence[float], b_rounds: Sequence[float]) -> str:
    """PLACEHOLDER (issue 15 replaces it): better/worse only when the ranges are disjoint."""
    a, b = _clean(a_rounds), _clean(b_rounds)
    if len(a) < MIN_ROUNDS or len(b) < MIN_ROUNDS:
        return "undecided"
    if min(a) > max(b):
        return "better"
    if max(a) < min(b):
        return "worse"
    return "undecided"


range_judge.label = (  # type: ignore[attr-defined]
    f"placeholder: round ranges disjoint (min/max of >= {MIN_ROUNDS} rounds); "
    "to be replaced by issue 15's judgment"
)


def judge_label(judge: Judge) -> str:
    """How a judge describes itself in tune.json and the report."""
    return getattr(judge, "label", getattr(judge, "__name__", "custom judge"))


def _clean(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and float(v) == float(v) and v > 0]
