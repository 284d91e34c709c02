"""`scaling compare`: a planted regression is caught (exit 1); the same machine twice is not."""

import dataclasses
import json
import shutil

import pytest
from click.testing import CliRunner

from scaling.cli import main
from scaling.collector.compare import compare, judge
from scaling.collector.run import load_run
from tests.synthetic_runs import write_run


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def base(tmp_path):
    return write_run(tmp_path / "base", seed=0)


def test_judge_is_beyond_both_spreads():
    # new's fast end 10% slower than base's slow end: a regression at 5%, not at 12%
    assert judge(1.0, 1.10, 5.0) == (pytest.approx(10.0), True)
    assert judge(1.0, 1.10, 12.0)[1] is False
    assert judge(1.0, 0.95, 0.0)[1] is False  # overlapping bands: noise


def test_identical_run_is_not_a_regression(base, tmp_path):
    same = shutil.copytree(base, tmp_path / "same")
    r = invoke("compare", base, same)
    assert r.exit_code == 0, r.output
    assert "no regressions in 30 matched points" in r.output


def test_rerun_with_noise_is_not_a_regression(base, tmp_path):
    again = write_run(tmp_path / "again", seed=7)  # same model, different noise draws
    r = invoke("compare", base, again, "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["regressions"] == 0 and len(result["points"]) == 30


def test_planted_collectives_regression_exits_1(tmp_path):
    base = write_run(tmp_path / "base", seed=0, training=False)
    slow = write_run(tmp_path / "slow", seed=1, slow=1.25, training=False)  # every op 25% slower
    r = invoke("compare", base, slow)
    assert r.exit_code == 1
    assert "24 regression(s) in 24 matched points" in r.output
    assert "REGRESSION" in r.output
    # the same change is within a 30% threshold
    assert invoke("compare", base, slow, "--threshold", "30").exit_code == 0


def test_json_deltas_and_direction(base, tmp_path):
    slow = write_run(tmp_path / "slow", seed=0, slow=1.25)  # same noise draws, 25% slower
    r = invoke("compare", base, slow, "--json")
    assert r.exit_code == 1
    pts = {p["point"]: p for p in json.loads(r.stdout)["points"]}
    two = pts["all_reduce float32 2 ranks 1M"]
    assert two["metric"] == "busbw_gbps" and two["regression"] is True
    assert two["delta_pct"] == pytest.approx(100 / 1.25 - 100, abs=0.5)  # busbw -20%
    assert two["time_delta_pct"] == pytest.approx(25, abs=0.5)
    one = pts["all_reduce float32 1 ranks 1K"]
    assert one["metric"] == "time_p50_us"  # busbw is n/a at one rank: compare the time


def test_training_regression_and_new_failure(base, tmp_path):
    b = load_run(base)
    new_dir = write_run(tmp_path / "slowtrain", seed=0, slow=1.3)
    slow_table = load_run(new_dir).training.copy()
    slow_table.loc[
        (slow_table.workload == "transformer") & (slow_table.world_size == 4), "status"
    ] = "oom"
    n = dataclasses.replace(load_run(new_dir), training=slow_table)
    c = compare(b, n)
    train = c.points[c.points.kind == "training"].set_index("point")
    r2 = train.loc["resnet50 cpu-small fp32 batch 8 2 ranks"]
    assert r2.regression and r2.delta_pct < -20
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


def test_unmatched_points_are_listed_not_regressions(base, tmp_path):
    small = write_run(tmp_path / "small", world_sizes=(1, 2), training=False)
    r = invoke("compare", base, small, "--json")
    result = json.loads(r.stdout)
    assert r.exit_code == 0
    assert "all_reduce float32 4 ranks 1K" in result["only_in_base"]
    assert result["only_in_new"] == []


def test_bad_input_is_one_line_exit_2(base, tmp_path):
    r = invoke("compare", base, tmp_path / "missing")
    assert r.exit_code == 2
    assert r.stderr.strip() == f"Error: {tmp_path / 'missing'}: no such run directory"
    r = invoke("compare", base, base, "--threshold", "-1")
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
