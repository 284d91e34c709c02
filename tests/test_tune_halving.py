"""Successive halving on simulated trials: known true throughputs plus noise.

The trial function here stands for a real run (scaling/tune/trials.py); the search code is the
same either way. Noise is lognormal per round, seeded, so every test is deterministic.
"""

from __future__ import annotations

import random

import pytest

from scaling.collector.tune.halving import successive_halving
from scaling.collector.tune.halving_budget import plan_rungs, schedule_of
from scaling.collector.tune.halving_types import (
    CUT,
    ELIMINATED,
    FAILED,
    NOT_TRIED,
    TIED,
    WINNER,
    Schedule,
    TrialResult,
)
from scaling.collector.tune.judging import trial_judge

FIXED_S, STEP_S = 2.0, 0.25  # a trial's setup, and one measured step


def simulated(true: dict[str, float], noise: float = 0.03, seed: int = 0, fail=()):
    """A trial callback: rounds ~ true x lognormal(noise); cost = setup + steps x step time."""
    rng = random.Random(seed)

    def trial(cid, budget):
        inside = STEP_S * budget.steps * budget.rounds
        if cid in fail:
            return TrialResult([], FIXED_S, 0.0, status="oom", error="injected out of memory")
        rounds = [true[cid] * rng.lognormvariate(0.0, noise) for _ in range(budget.rounds)]
        return TrialResult(rounds, FIXED_S + inside, inside)

    return trial


def landscape(n: int, seed: int = 1) -> dict[str, float]:
    rng = random.Random(seed)
    return {f"c{i:02d}": 100.0 * (1 + 0.3 * rng.random()) for i in range(n)}


def test_plan_halves_down_to_the_finalists():
    plan = plan_rungs(16, Schedule(finalists=2, first_steps=1, full_steps=8))
    assert [r["candidates"] for r in plan] == [16, 8, 4, 2]
    assert [r["steps"] for r in plan] == [1, 2, 4, 8]
    assert plan[0]["rounds"] == 4 and plan[-1]["rounds"] == 8
    assert [r["candidates"] for r in plan_rungs(2, Schedule())] == [2]  # already finalists
    assert [r["candidates"] for r in plan_rungs(11, Schedule(eta=3))] == [11, 4, 2]


def test_the_tune_section_sets_the_schedule():
    from scaling.config.tune import TuneConfig

    s = schedule_of(TuneConfig(eta=3, finalists=3, full_steps=16, confirm=False))
    assert (s.eta, s.finalists, s.full_steps, s.confirm) == (3, 3, 16, False)
    assert schedule_of(TuneConfig()) == Schedule()  # one set of defaults


def test_a_slow_candidate_is_eliminated_in_the_first_round():
    true = landscape(16)
    true["c05"] = 0.5 * min(true.values())  # the test hook: one candidate made slow
    result = successive_halving(list(true), simulated(true), Schedule())
    slow = result.outcomes["c05"]
    assert slow.rung == 0 and slow.status in (ELIMINATED, CUT)
    assert slow.status == ELIMINATED and slow.verdict == "worse"


def test_the_true_best_wins_when_it_stands_out():
    true = landscape(24)
    true["c17"] = 1.25 * max(true.values())
    result = successive_halving(list(true), simulated(true), Schedule())
    assert result.winner == "c17" and result.tied == []
    assert result.outcomes["c17"].status == WINNER
    assert result.confirm is not None and result.confirm.id == "c17"
    assert result.confirm.budget.full and result.confirm.budget.rounds == 8


@pytest.mark.parametrize("seed", range(6))
def test_ties_are_reported_not_broken_by_noise(seed):
    """Two candidates with the same true throughput, well ahead of the rest: both reach the
    final, neither is called better, and the preferred one (listed first) is picked."""
    true = {f"c{i}": 100.0 + i for i in range(8)}
    true["c2"] = true["c6"] = 150.0
    ids = ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"]
    result = successive_halving(ids, simulated(true, seed=seed), Schedule())
    assert result.winner == "c2"  # earlier in ids: the caller's preference, not the medians
    assert result.tied == ["c6"]
    assert result.outcomes["c6"].status == TIED
    assert result.outcomes["c6"].verdict in ("tie", "undecided")
    assert result.stop_reason == "the finalists had the full measurement"


def test_trials_are_judged_as_compare_judges():
    judge = trial_judge(threshold_pct=3.0)
    assert judge([1, 2, 3], [10, 11, 12]) == "undecided"  # too few rounds for p < 0.05
    assert judge([10, 11, 12, 13], [1, 2, 3, 4]) == "better"
    assert judge([1, 2, 3, 4], [10, 11, 12, 13]) == "worse"
    assert judge([1, 2, 3, 11], [10, 11, 12, 13]) == "undecided"  # spread: could hide 3%
    tight = [100.0, 100.2, 99.9, 100.1, 100.0]
    assert judge(tight, [100.1, 99.8, 100.2, 100.0, 99.9]) == "tie"
    assert judge([101.5, 101.6, 101.4, 101.5], [100.0, 100.1, 99.9, 100.0]) == "tie"  # < 3%


def test_a_judge_saying_tie_is_reported_as_tie():
    true = {"a": 100.0, "b": 101.0, "c": 50.0}

    def judge(a, b):
        ratio = sum(a) / sum(b)
        return "worse" if ratio < 0.8 else "better" if ratio > 1.25 else "tie"

    result = successive_halving(list(true), simulated(true), Schedule(), judge=judge)
    assert result.outcomes["c"].status == ELIMINATED
    assert {result.winner, *result.tied} == {"a", "b"}
    assert result.outcomes["b"].verdict == "tie" or result.outcomes["a"].verdict == "tie"


def test_budget_stop_when_no_candidate_can_catch_the_best():
    """Four large-batch candidates lead, and their steps take 3x as long: the plan, made from
    the first rung's average trial, underestimates the later rungs. Before the final rung the
    projection from their own trials shows it cannot fit: the search stops there."""
    true = {f"c{i:02d}": 100.0 for i in range(12)} | {f"h{i}": 200.0 for i in range(4)}
    heavy = {c: 3.0 if c.startswith("h") else 1.0 for c in true}
    rng = random.Random(0)

    def trial(cid, budget):
        inside = STEP_S * heavy[cid] * budget.steps * budget.rounds
        rounds = [true[cid] * rng.lognormvariate(0.0, 0.03) for _ in range(budget.rounds)]
        return TrialResult(rounds, FIXED_S + inside, inside)

    result = successive_halving(list(true), trial, Schedule(), budget_s=240.0)
    assert not any(o.status == NOT_TRIED for o in result.outcomes.values())  # the plan fitted
    assert result.stop_reason.startswith("budget: rung 3")
    assert "no other candidate can catch the best within the budget" in result.stop_reason
    assert result.spent_s <= 240.0
    # h0..h3 cannot be separated: the two still in are reported tied, picked by preference
    assert result.winner.startswith("h") and len(result.tied) == 1
    assert result.tied[0].startswith("h") and result.winner < result.tied[0]
    assert not any(m.budget.rung >= 3 for m in result.measurements)


def test_a_budget_too_small_for_every_candidate_tries_a_seeded_sample():
    true = landscape(40)
    budget = 300.0
    a = successive_halving(list(true), simulated(true), Schedule(seed=7), budget_s=budget)
    b = successive_halving(list(true), simulated(true), Schedule(seed=7), budget_s=budget)
    untried = [c for c, o in a.outcomes.items() if o.status == NOT_TRIED]
    assert untried and untried == [c for c, o in b.outcomes.items() if o.status == NOT_TRIED]
    assert "c00" not in untried  # the baseline is always tried
    assert "budget allows" in a.outcomes[untried[0]].reason
    assert a.spent_s <= budget


def test_a_budget_for_one_trial_tries_the_baseline_only():
    true = landscape(10)
    result = successive_halving(list(true), simulated(true), Schedule(), budget_s=4.0)
    assert result.stop_reason.startswith("budget: the 4 s budget leaves no room")
    assert [m.id for m in result.measurements] == ["c00"]  # not rerun, not remeasured
    assert result.winner == "c00" and result.confirm is None
    assert sum(o.status == NOT_TRIED for o in result.outcomes.values()) == 9


def test_failed_trials_are_listed_and_left_out():
    true = landscape(8)
    result = successive_halving(list(true), simulated(true, fail={"c03"}), Schedule())
    assert result.outcomes["c03"].status == FAILED
    assert "oom" in result.outcomes["c03"].reason
    assert result.winner != "c03"


def test_progress_says_what_is_tried_and_the_current_best():
    true = landscape(8)
    events = []
    successive_halving(list(true), simulated(true), Schedule(), on_progress=events.append)
    kinds = [e.kind for e in events]
    assert kinds[0] == "trial" and "plan" in kinds and kinds[-1] == "done"
    assert {"result", "rung", "stop", "confirm"} <= set(kinds)
    later = [e for e in events if e.kind == "trial" and e.rung == 1]
    assert later and all(e.best is not None and e.best_median > 0 for e in later)


def test_bad_input():
    with pytest.raises(ValueError, match="no candidates"):
        successive_halving([], simulated({}))
    with pytest.raises(ValueError, match="unique"):
        successive_halving(["a", "a"], simulated({"a": 1.0}))
    with pytest.raises(ValueError):
        Schedule(eta=1)


def _recording(true: dict[str, float], calls: list, drift=lambda call: 1.0, fail_second=()):
    """A noise-free trial callback that logs each call (id, rung, rounds, first_round) and
    scales its rounds by drift(call number): the machine's state when the call ran."""

    def trial(cid, budget):
        calls.append((cid, budget.rung, budget.rounds, budget.first_round))
        if cid in fail_second and budget.first_round:
            return TrialResult([], FIXED_S, 0.0, status="error", error="rank died")
        factor = drift(len(calls) - 1)
        rounds = [true[cid] * factor * (1 + 1e-4 * i) for i in range(budget.rounds)]
        return TrialResult(rounds, FIXED_S + STEP_S * budget.steps * budget.rounds, None)

    return trial


def _slowing(call: int) -> float:
    """The machine slows 4% per call after the first rung's four calls."""
    return 1.0 - 0.04 * max(0, call - 3)


def test_later_rungs_are_interleaved_first_pass_forward_second_reversed():
    true = {"a": 100.0, "b": 99.0, "c": 98.5, "d": 98.0}
    calls: list = []
    result = successive_halving(list(true), _recording(true, calls), Schedule(confirm=False))
    assert [c for c in calls if c[1] == 0] == [(x, 0, 4, 0) for x in "abcd"]  # rung 0: once
    later = [c for c in calls if c[1] == 1]
    kept = result.rungs[0]["kept"]
    assert len(kept) == 2
    first = [(x, 1, 4, 0) for x in kept]
    assert later == first + [(x, 1, 4, 4) for x in reversed(kept)]
    m = [m for m in result.measurements if m.budget.rung == 1]
    assert sorted(x.id for x in m) == sorted(kept)
    assert all(len(x.result.rounds) == 8 and x.budget.first_round == 0 for x in m)
    calls.clear()
    successive_halving(list(true), _recording(true, calls), Schedule(confirm=False, mirror=False))
    assert [c for c in calls if c[1] == 1] == [(x, 1, 8, 0) for x in kept]


def test_interleaving_keeps_drift_from_picking_the_winner():
    """a and b are equal; the machine slows 4% per call after the first rung. Measured one
    after another, the first of them looks 4% faster, 'beyond noise' (the rounds of one call
    are tight); interleaved and judged in pairs, the drift cancels and they tie."""
    true = {"a": 100.0, "b": 100.0, "c": 80.0, "d": 80.0}

    def search(mirror):
        trial = _recording(true, [], _slowing)
        return successive_halving(list(true), trial, Schedule(confirm=False, mirror=mirror))

    plain, mirrored = search(False), search(True)
    assert plain.winner == "a" and plain.outcomes["b"].status == ELIMINATED
    assert {mirrored.winner, *mirrored.tied} == {"a", "b"}
    assert mirrored.outcomes["b"].status in (TIED, WINNER)


def test_odd_rounds_are_made_even_so_the_passes_pair():
    """3 rounds in one call and 2 in the other would put the median in the first call's
    cluster, and drift would rank a above b again; the interleaved rung runs 4 (2 + 2)."""
    true = {"a": 100.0, "b": 100.0, "c": 80.0, "d": 80.0}
    calls: list = []
    result = successive_halving(
        list(true), _recording(true, calls, _slowing), Schedule(full_rounds=7, confirm=False)
    )
    assert result.planned[1]["rounds"] == 8 and result.planned[1]["calls"] == 2
    assert [c[2:] for c in calls if c[1] == 1] == [(4, 0), (4, 0), (4, 4), (4, 4)]
    last = {m.id: m for m in result.measurements if m.budget.rung == 1}
    assert last["a"].median == pytest.approx(last["b"].median, rel=1e-3)
    assert last["a"].to_dict()["calls"] == 2 and "first_round" not in last["a"].to_dict()


def test_a_candidate_failing_its_second_pass_fails():
    true = {"a": 100.0, "b": 99.0, "c": 98.5, "d": 98.0}
    calls: list = []
    trial = _recording(true, calls, fail_second={"a"})
    result = successive_halving(list(true), trial, Schedule(confirm=False))
    assert result.outcomes["a"].status == FAILED
    assert "error at rung 1: pass 2 of 2: rank died" in result.outcomes["a"].reason
    assert result.winner != "a"


def test_a_second_call_numbers_its_rounds_after_the_first():
    from scaling.collector.tune.trial_records import measured_seconds, split_rounds

    def call(times):
        steps = [{"type": "step", "phase": "ddp", "rank": 0, "step": i, "time_s": t}
                 for i, t in enumerate(times)]  # fmt: skip
        return steps + [{"type": "train_point", "rank": 0}]

    first = split_rounds(call([1.0, 2.0, 3.0, 4.0]), steps=2)
    second = split_rounds(call([5.0, 6.0, 7.0, 8.0]), steps=2, first_round=2)
    rounds = [(r["round"], r["step"]) for r in first + second if r["type"] == "step"]
    assert rounds == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)]
    assert [r["round"] for r in first + second if r["type"] == "train_point"] == [0, 2]
    assert measured_seconds(first + second) == 36.0  # no step of one call hides the other's


def test_one_call_rungs_eliminate_only_beyond_the_margin_calls_differ_by():
    """a is the true best, but its first-rung call ran while the machine was 15% slower; that
    call's rounds are tight, so the judge calls a 'worse' than b beyond noise. One call cannot
    show call-to-call noise: with interleaved rungs a is ranked (second of four) and goes on,
    wins the interleaved rung; c and d, slower than the best by more than the margin, go at
    once. Not interleaved, the old rule eliminates a at the first rung."""
    from scaling.collector.tune.halving import ONE_CALL_MARGIN_PCT

    true = {"a": 110.0, "b": 100.0, "c": 70.0, "d": 72.0}
    assert 100.0 / 72.0 - 1 > ONE_CALL_MARGIN_PCT / 100 > 110 / 100 - 1

    def search(mirror):
        trial = _recording(true, [], lambda call: 0.85 if call == 0 else 1.0)
        return successive_halving(list(true), trial, Schedule(confirm=False, mirror=mirror))

    mirrored, plain = search(True), search(False)
    assert mirrored.rungs[0]["kept"] == ["b", "a"] and mirrored.rungs[0]["eliminated"] == ["c", "d"]
    assert mirrored.rungs[0]["one_call_margin_pct"] == ONE_CALL_MARGIN_PCT
    assert mirrored.winner == "a"
    assert "more than 30% slower" in mirrored.outcomes["c"].reason
    assert plain.outcomes["a"].status == ELIMINATED and plain.winner == "b"
