"""Where tune asks "is candidate A better than B beyond noise?": compare's judgment.

    judge = trial_judge(threshold_pct=3.0, confidence=0.95)
    verdict = judge(a_rounds, b_rounds)   # "better" | "worse" | "tie" | "undecided"

Inputs are per-round throughputs (samples/s: larger is better), one value per round (each
the median of that round's steps). They go through scaling.collector.judge, the function
`scaling compare` uses, as times (a throughput of the same work is 1 / time): the
Mann-Whitney U test over the round figures, the threshold and the minimum detectable change
decide. The verdict is about A:

- better / worse: the test says the change is real and it exceeds the threshold;
- tie:            no change beyond the threshold, and the rounds could have shown one
                  (compare's "same");
- undecided:      the rounds cannot tell (too few, or too spread).

Tune never breaks a tie or an undecided pair by the medians: the search keeps both where the
budget allows and reports them as not separated.

This judge pools each side's rounds: tune uses it at the first rung, where every candidate is
measured in one call. Interleaved rungs, where the candidates' rounds were measured in the
same passes, are judged in pairs instead (paired.py).

Each comparison is judged at the stated confidence on its own (family 1). A rung compares
every candidate with its best, so more than one true tie may be eliminated by chance at 5%
each; the cost is a candidate lost, not a wrong figure: the winner is rerun and reported at
full length. 4 rounds per side are the fewest the exact U test needs for p < 0.05
(2 / C(8, 4) = 0.029), which is why the first trial has 4 rounds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from scaling.collector.judge import judge as judge_change

VERDICTS = ("better", "worse", "tie", "undecided")
Judge = Callable[[Sequence[float], Sequence[float]], str]
"""judge(a_rounds, b_rounds) -> one of VERDICTS (about A, throughputs: higher is better)."""

_FROM_COMPARE = {"improvement": "better", "regression": "worse", "same": "tie"}


def trial_judge(threshold_pct: float, confidence: float = 0.95) -> Judge:
    """compare's judgment of A's throughput rounds against B's, as a tune verdict."""

    def judge(a_rounds: Sequence[float], b_rounds: Sequence[float]) -> str:
        a, b = _times(a_rounds), _times(b_rounds)
        verdict = judge_change(b, a, threshold_pct=threshold_pct, confidence=confidence).verdict
        return _FROM_COMPARE.get(verdict, "undecided")

    judge.label = (  # type: ignore[attr-defined]
        f"scaling compare's judgment (Mann-Whitney U over round figures, p < "
        f"{1 - confidence:.2g}, threshold {threshold_pct:g}%)"
    )
    return judge


def judge_label(judge: Judge) -> str:
    """How a judge describes itself in tune.json and the report."""
    return getattr(judge, "label", getattr(judge, "__name__", "custom judge"))


def _times(throughputs: Sequence[float]) -> list[float]:
    """Per-round throughputs as per-round times of the same work (1 / throughput)."""
    out = []
    for v in throughputs:
        x = None if v is None else float(v)
        if x is not None and x == x and x > 0:
            out.append(1.0 / x)
    return out
