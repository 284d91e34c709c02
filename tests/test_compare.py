"""`scaling compare`: a planted regression is caught (exit 1); the same machine twice is not,
drift is one environment shift, and runs without rounds are undecided, not regressions."""

import dataclasses
import json
import shutil

import pytest
from click.testing import CliRunner

from scaling.cli import main
from scaling.collector.compare import compare
from scaling.collector.run import load_run
from tests.synthetic_runs import write_run

ROUNDS = 8


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def base(tmp_path):
    return write_run(tmp_path / "base", seed=0, rounds=ROUNDS, drift=0.01)


def test_identical_samples_judge_as_no_change_but_the_cli_refuses_them(base, tmp_path):
    """The judge finds no change in identical samples; the CLI refuses them as nothing to
    compare (exit 2, one line): a run compared with (a copy of) itself shows no change by
    construction, so a gate built on it would pass forever (collector/coverage.py)."""
    same = shutil.copytree(base, tmp_path / "same")
    result = compare(load_run(base), load_run(same))
    assert len(result.points) == 30
    verdicts = result.counts()
    assert verdicts["regression"] == verdicts["improvement"] == 0
    assert verdicts["same"] > 15  # the rest: rounds too spread to see 5% (undecided)
    for args in ((base, same), (base, base), (base, same, "--json")):
        r = CliRunner().invoke(main, [str(a) for a in ("compare", *args)])
        assert r.exit_code == 2, r.output
        assert r.stdout == "" and len(r.stderr.splitlines()) == 1, r.output
        assert "same" in r.stderr and "Traceback" not in r.output


def test_rerun_with_noise_is_not_a_regression(base, tmp_path):
    again = write_run(tmp_path / "again", seed=7, rounds=ROUNDS, drift=0.01)  # new noise draws
    r = invoke("compare", base, again, "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["regressions"] == 0 and len(result["points"]) == 30
    p = result["points"][0]
    assert p["rounds_base"] == ROUNDS and p["p_value"] is not None and p["mdc_pct"] < 5


def test_planted_collectives_regression_exits_1(tmp_path):
    base = write_run(tmp_path / "base", seed=0, training=False, rounds=ROUNDS, drift=0.01)
    # every op 25% slower at 2 and 4 ranks; the 1-rank floor is not: not drift
    slow = write_run(tmp_path / "slow", seed=1, slow=1.25, slow_from=2, training=False,
                     rounds=ROUNDS, drift=0.01)  # fmt: skip
    r = invoke("compare", base, slow)
    assert r.exit_code == 1, r.output
    assert "16 regression(s) in 24 matched points" in r.output
    assert "REGRESSION" in r.output and "no environment shift named" in r.output
    # the same change is within a 30% threshold
    assert invoke("compare", base, slow, "--threshold", "30").exit_code == 0


def test_drift_is_one_environment_shift_exit_0(tmp_path):
    base = write_run(tmp_path / "base", seed=0, training=False, rounds=ROUNDS, drift=0.01)
    drifted = write_run(tmp_path / "drift", seed=1, slow=1.2, training=False, rounds=ROUNDS,
                        drift=0.01)  # fmt: skip  # everything, the 1-rank floor too, 20% slower
    r = invoke("compare", base, drifted)
    assert r.exit_code == 0, r.output
    assert "environment shift of +" in r.output and "no regressions" in r.output
    data = json.loads(invoke("compare", base, drifted, "--json").stdout)
    assert data["environment_shift"]["named"] and data["regressions"] == 0
    assert data["environment_shift"]["pct"] == pytest.approx(20, abs=1.5)
    # a real slowdown on top of the drift still shows, beyond it
    worse = write_run(tmp_path / "worse", seed=2, slow=1.2 * 1.25, slow_from=2, training=False,
                      rounds=ROUNDS, drift=0.01)  # fmt: skip
    assert invoke("compare", base, worse).exit_code == 1


def test_normalize_judges_against_the_one_rank_reference(tmp_path):
    base = write_run(tmp_path / "base", seed=0, training=False, rounds=ROUNDS, drift=0.01)
    slow = write_run(tmp_path / "slow", seed=1, slow=1.25, slow_from=2, training=False,
                     rounds=ROUNDS, drift=0.01)  # fmt: skip
    r = invoke("compare", base, slow, "--normalize", "--json")
    data = json.loads(r.stdout)
    assert r.exit_code == 1 and data["normalize"] and data["regressions"] == 16
    assert any("1-rank reference, which moved" in n for n in data["notes"])


def test_normalize_without_references_is_undecided(tmp_path):
    base = write_run(tmp_path / "b", world_sizes=(2, 4), training=False, rounds=ROUNDS)
    slow = write_run(tmp_path / "s", world_sizes=(2, 4), slow=1.5, training=False, rounds=ROUNDS)
    r = invoke("compare", base, slow, "--normalize", "--json")
    data = json.loads(r.stdout)
    assert r.exit_code == 0 and data["verdicts"]["undecided"] == 16
    assert data["points"][0]["why"] == "no 1-rank reference in both runs to normalize by"
    # without --normalize the same change is a regression: no references, so no drift named
    r = invoke("compare", base, slow)
    assert r.exit_code == 1 and "no 1-rank reference points" in r.output


def test_json_deltas_and_direction(base, tmp_path):
    slow = write_run(tmp_path / "slow", seed=0, slow=1.25, slow_from=2, rounds=ROUNDS, drift=0.01)
    r = invoke("compare", base, slow, "--json")
    assert r.exit_code == 1
    pts = {p["point"]: p for p in json.loads(r.stdout)["points"]}
    two = pts["all_reduce float32 2 ranks 1M"]
    assert two["metric"] == "busbw_gbps" and two["regression"] is True
    assert two["verdict"] == "regression" and two["p_value"] < 0.05
    assert two["delta_pct"] == pytest.approx(100 / 1.25 - 100, abs=1.5)  # busbw -20%
    assert two["time_delta_pct"] == pytest.approx(25, abs=1.5)
    assert two["interval_low_pct"] <= two["time_delta_pct"] <= two["interval_high_pct"]
    one = pts["all_reduce float32 1 ranks 1K"]
    assert one["metric"] == "time_p50_us" and one["reference"] is True  # busbw n/a at one rank
    assert one["verdict"] == "same"


def test_training_regression_and_new_failure(base, tmp_path):
    b = load_run(base)
    new_dir = write_run(tmp_path / "slowtrain", seed=0, slow=1.3, slow_from=2, rounds=ROUNDS,
                        drift=0.01)  # fmt: skip
    slow_table = load_run(new_dir).training.copy()
    slow_table.loc[
        (slow_table.workload == "transformer") & (slow_table.world_size == 4), "status"
    ] = "oom"
    n = dataclasses.replace(load_run(new_dir), training=slow_table)
    c = compare(b, n)
    train = c.points[c.points.kind == "training"].set_index("point")
    r2 = train.loc["resnet50 cpu-small fp32 batch 8 2 ranks"]
    assert r2.regression and r2.time_delta_pct > 20
    oom = train.loc["transformer tiny fp32 batch 4 4 ranks"]
    assert oom.regression and oom.why == "status ok -> oom"


def test_wrong_elements_are_a_regression(base, tmp_path):
    b = load_run(base)
    n = load_run(shutil.copytree(base, tmp_path / "wrong"))
    coll = n.collectives.copy()
    coll.loc[0, "wrong"] = 12
    c = compare(b, dataclasses.replace(n, collectives=coll))
    reg = c.regressions
    assert len(reg) == 1 and reg.iloc[0].why == "#wrong 0 -> 12"


def test_runs_without_rounds_are_undecided_not_regressions(tmp_path):
    old = write_run(tmp_path / "old", seed=0)  # no "round" field: one round
    slow = write_run(tmp_path / "oldslow", seed=1, slow=1.5, slow_from=2)
    r = invoke("compare", old, slow)
    assert r.exit_code == 0, r.output
    assert "30 undecided" in r.output and "single round" in r.output
    data = json.loads(invoke("compare", old, slow, "--json").stdout)
    p = next(p for p in data["points"] if p["point"] == "all_reduce float32 2 ranks 1M")
    assert p["verdict"] == "undecided" and "fewer than 7 rounds" in p["why"]
    assert p["time_delta_pct"] == pytest.approx(50, abs=8)  # shown (other noise draws: +-5%)


def test_unmatched_points_are_listed_not_regressions(base, tmp_path):
    small = write_run(tmp_path / "small", world_sizes=(1, 2), training=False, rounds=ROUNDS)
    r = invoke("compare", base, small, "--json")
    result = json.loads(r.stdout)
    assert r.exit_code == 0
    assert "all_reduce float32 4 ranks 1K" in result["only_in_base"]
    assert result["only_in_new"] == []


def test_bad_input_is_one_line_exit_2(base, tmp_path):
    r = invoke("compare", base, tmp_path / "missing")
    assert r.exit_code == 2
    assert r.stderr.strip() == f"Error: {tmp_path / 'missing'}: no such run directory"
    for bad in (("--threshold", "-1"), ("--confidence", "1.5"), ("--confidence", "0.2")):
        r = invoke("compare", base, base, *bad)
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, bad


def test_no_point_in_common_is_exit_2_naming_the_points(tmp_path):
    """After a config change (other ops) nothing matches: not a pass (collector/coverage.py
    says why exit 2, not 1)."""
    base = write_run(tmp_path / "base", training=False, rounds=2)
    other = write_run(tmp_path / "other", training=False, rounds=2, ops=("broadcast",))
    r = CliRunner().invoke(main, ["compare", str(base), str(other)])
    assert r.exit_code == 2, r.output
    assert "no regressions" not in r.stdout and "nothing compared" in r.stdout
    (line,) = r.stderr.splitlines()
    assert "none of BASE's 24 points matched in NEW" in line
    assert "not in NEW: all_gather float32 1 ranks 1K" in line and "and 19 more" in line
    assert "NEW has instead: broadcast float32" in line


def test_too_few_points_matched_is_exit_2_unless_the_share_is_lowered(tmp_path):
    base = write_run(tmp_path / "base", training=False, rounds=2)  # 2 ops x 3 sizes x 4 sizes
    fewer = write_run(tmp_path / "one", training=False, rounds=2, world_sizes=(1,), seed=1)
    r = CliRunner().invoke(main, ["compare", str(base), str(fewer)])
    assert r.exit_code == 2, r.output
    assert "only 8 of BASE's 24 points matched in NEW (33%, below 50%)" in r.stderr
    assert "not in NEW: all_gather float32 2 ranks 1K" in r.stderr
    r = CliRunner().invoke(main, ["compare", str(base), str(fewer), "--min-matched", "30"])
    assert r.exit_code == 0, r.output
    # the other way round every point of BASE (1 rank) is in NEW: a full comparison
    assert CliRunner().invoke(main, ["compare", str(fewer), str(base)]).exit_code == 0


def test_a_regression_among_few_matched_points_is_exit_1_with_the_coverage_warning(tmp_path):
    base = write_run(tmp_path / "base", training=False, rounds=ROUNDS, drift=0.01,
                     ops=("all_reduce", "all_gather", "broadcast"))  # fmt: skip
    new = write_run(tmp_path / "new", training=False, rounds=ROUNDS, drift=0.01, seed=1,
                    world_sizes=(1, 2), ops=("all_reduce",), slow=1.25, slow_from=2)  # fmt: skip
    r = CliRunner().invoke(main, ["compare", str(base), str(new)])
    assert r.exit_code == 1, r.output  # measured slower: that stands, whatever the coverage
    assert "4 regression(s) in 8 matched points" in r.stdout
    assert r.stderr.startswith("warning: incomplete comparison: only 8 of BASE's 36 points")
