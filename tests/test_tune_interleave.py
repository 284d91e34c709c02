"""Interleaved rungs: candidates measured side by side in time, judged on pairs of rounds.

Pure logic (the search on a recording trial callback, the paired judge on planted rounds);
the real gloo order is asserted in tests/test_tune_cli.py (the last rung's passes).
"""

from __future__ import annotations

import random

import pytest

from scaling.collector.tune.halving import pass_orders, successive_halving
from scaling.collector.tune.halving_budget import plan_rungs
from scaling.collector.tune.halving_types import Schedule, TrialResult
from scaling.collector.tune.judging import trial_judge
from scaling.collector.tune.paired import paired_judge, paired_judgment, signed_rank_p


def _drifting(true: dict[str, float], calls: list, drift, noise: float = 0.0, seed: int = 0):
    """A trial callback that logs (id, rung, rounds, first_round) per call and scales each
    round by drift(call number, round in call), plus seeded lognormal noise."""
    rng = random.Random(seed)

    def trial(cid, budget):
        n = len(calls)
        calls.append((cid, budget.rung, budget.rounds, budget.first_round))
        rounds = [
            true[cid] * drift(n, j) * rng.lognormvariate(0.0, noise) * (1 + 1e-4 * j)
            for j in range(budget.rounds)
        ]
        return TrialResult(rounds, 1.0 + 0.1 * budget.steps * budget.rounds, None)

    return trial


def test_passes_alternate_direction():
    assert pass_orders(["a", "b", "c"], 4) == [list("abc"), list("cba"), list("abc"), list("cba")]


def test_a_rung_is_measured_round_robin_in_alternating_passes():
    """4 passes: a b c, c b a, a b c, c b a at rung 1, each pass 2 of the rung's 8 rounds,
    numbered on from the last pass; one measurement per candidate holds all 8 in order."""
    true = {"a": 100.0, "b": 99.0, "c": 98.0, "d": 97.0, "e": 60.0, "f": 60.0}
    calls: list = []
    s = Schedule(confirm=False, passes=4, finalists=3, first_rounds=4, full_rounds=8)
    result = successive_halving(list(true), _drifting(true, calls, lambda n, j: 1.0), s)
    assert result.planned[1]["calls"] == 4 and result.planned[1]["rounds"] == 8
    kept = result.rungs[0]["kept"]
    assert len(kept) == 3
    later = [c for c in calls if c[1] == 1]
    expected = []
    for p, order in enumerate([kept, kept[::-1], kept, kept[::-1]]):
        expected += [(x, 1, 2, 2 * p) for x in order]
    assert later == expected
    m = {x.id: x for x in result.measurements if x.budget.rung == 1}
    assert sorted(m) == sorted(kept) and all(x.budget.calls == 4 for x in m.values())
    assert all(len(x.result.rounds) == 8 for x in m.values())


def test_rounds_are_made_a_multiple_of_the_passes():
    plan = plan_rungs(8, Schedule(passes=4, first_rounds=4, full_rounds=6))
    assert [(r["rounds"], r["calls"]) for r in plan] == [(4, 1), (8, 4), (8, 4)]
    with pytest.raises(ValueError, match="even"):
        Schedule(passes=3)


def _planted(a_true: float, b_true: float, levels: list[float], k: int = 4, seed: int = 0):
    """A's and B's rounds over len(levels) passes of k rounds (A B, B A, ...): each pass runs
    at the machine's level then (both of its calls alike), with 1% noise per round."""
    rng = random.Random(seed)
    a, b = [], []
    for level in levels:
        a += [a_true * level * rng.lognormvariate(0, 0.01) for _ in range(k)]
        b += [b_true * level * rng.lognormvariate(0, 0.01) for _ in range(k)]
    return a, b


def test_the_paired_judge_sees_through_a_drift_that_fools_the_unpaired_one():
    """A is 6% faster than B. The machine slowed by a quarter between the two passes (a
    neighbour's job started): each side's pooled rounds now span both levels, and the unpaired
    test cannot separate them; pairs taken in the same pass still show A 6% ahead."""
    a, b = _planted(106.0, 100.0, [1.0, 0.75])
    assert trial_judge(3.0)(a, b) == "undecided"
    j = paired_judgment(a, b, 2, 3.0, 0.95)
    assert j.verdict == "better" and j.ratio == pytest.approx(1.06, rel=0.01), j.reason
    assert paired_judge(3.0)(b, a, 2) == "worse"


def test_equal_candidates_under_drift_are_not_separated():
    """Equal candidates and the same drift: the paired judge never calls one better."""
    for seed in range(20):
        a, b = _planted(100.0, 100.0, [1.0, 0.7, 0.9, 1.1], k=3, seed=seed)
        assert paired_judge(3.0)(a, b, 4) in ("tie", "undecided")


def test_passes_that_disagree_are_undecided():
    """Three passes put A 10% ahead, one 1% behind: the pairs' test rejects and the estimate is
    beyond 3%, but one pass says otherwise, so one call's moment could be deciding: not ranked.
    A steady drift larger than the difference (A B favours A by 8%, B A favours B by 4%) is
    not ranked either."""
    a, b = _planted(110.0, 100.0, [1.0, 1.0, 1.0, 1.0])
    a[8:12] = [99.0, 99.1, 98.9, 99.0]
    j = paired_judgment(a, b, 4, 3.0, 0.95)
    assert j.verdict == "undecided" and "passes disagree" in j.reason, j.reason
    a = [108.0, 108.1, 107.9, 108.0, 96.0, 96.1, 95.9, 96.0]
    assert paired_judge(3.0)(a, [100.0] * 8, 2) == "undecided"


def test_the_search_picks_the_faster_one_where_pooled_rounds_would_tie():
    """b is listed first (the caller's preference), a is 6% faster; the machine slows by a
    quarter after the first pass of rung 1. Judged on pooled rounds the two cannot be
    separated and the preference picks b; judged in pairs, a wins. The rung judges alone (the
    tie-break off); with the tie-break on, its head-to-head passes separate the pooled tie."""
    true = {"b": 100.0, "a": 106.0, "c": 60.0, "d": 60.0}

    def level(n, j):
        return 0.75 if n >= 6 else 1.0  # calls 0-3: rung 0; 4-5: pass 1; 6-7: pass 2

    def search(share=0.0, **judges):
        trial = _drifting(true, [], level, noise=0.01)
        schedule = Schedule(confirm=False, tiebreak_share=share, time_goal=0)  # the share alone
        return successive_halving(list(true), trial, schedule, **judges)

    unpaired = trial_judge(3.0)
    pooled = search(judge=unpaired, paired=lambda a, b, passes: unpaired(a, b))
    assert pooled.winner == "b" and pooled.tied == ["a"]
    paired = search()
    assert paired.winner == "a" and paired.tied == []
    assert paired.outcomes["b"].verdict == "worse"
    broken = search(0.9, judge=unpaired, paired=lambda a, b, passes: unpaired(a, b))
    assert broken.winner == "a" and broken.tied == [] and broken.tiebreak["separated"]


def test_signed_rank_is_exact():
    assert signed_rank_p([1, 2, 3, 4, 5, 6]) == pytest.approx(2 / 64)
    assert signed_rank_p([1, -2, 3, 4, 5, 6]) == pytest.approx(6 / 64)
    assert signed_rank_p([1, -2, 3, 4, 5, 6], "greater") == pytest.approx(3 / 64)
    assert signed_rank_p([0, 0]) == 1.0


def test_an_odd_passes_setting_is_refused_before_ray(tmp_path):
    from click.testing import CliRunner

    from scaling.cli import main

    cfg = tmp_path / "t.toml"
    cfg.write_text("[tune]\npasses = 3\n")
    r = CliRunner().invoke(main, ["tune", "--workload", "transformer", "--config", str(cfg)])
    assert r.exit_code == 2 and "passes must be even" in r.output, r.output
