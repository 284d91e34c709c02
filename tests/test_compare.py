"""`scaling compare` with the run as the unit of evidence: run sets decide, one run per side
without history is undecided, everything moving together is said first and is not an excuse,
and failures are regressions whatever the timings say."""

import dataclasses
import json
import shutil

import pytest
from click.testing import CliRunner

from scaling.cli import main
from scaling.collector.loaded_run import load_run
from scaling.collector.runsets import compare_sets
from tests.synthetic_runs import write_run

ROUNDS = 8


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def runs(root, name, k, seed0=0, **kw):
    kw = {"rounds": ROUNDS, "drift": 0.01, "training": False, **kw}
    return [write_run(root / f"{name}{i}", seed=seed0 + i, **kw) for i in range(k)]


def sets(base, new):
    return [a for b in base for a in ("--base", b)] + [a for n in new for a in ("--new", n)]


def classes(data) -> dict:
    return {c["label"]: c for c in data["classes"]}


def test_one_run_per_side_without_history_is_undecided(tmp_path):
    base = write_run(tmp_path / "base", seed=0, rounds=ROUNDS, drift=0.01)
    slow = write_run(tmp_path / "slow", seed=1, rounds=ROUNDS, drift=0.01, slow=1.3, slow_from=2)
    r = invoke("compare", base, slow, "--runs-dir", tmp_path / "none")
    assert r.exit_code == 0, r.output  # +30% at 2 and 4 ranks: one run each cannot tell
    assert "one run per side cannot tell a change from the host's run-to-run state" in r.output
    data = json.loads(invoke("compare", base, slow, "--no-history", "--json").stdout)
    assert data["regressions"] == 0 and data["spread"].startswith("none")
    assert {c["verdict"] for c in data["classes"]} == {"undecided"}
    two = classes(data)["collective at 2 ranks"]
    assert two["delta_pct"] == pytest.approx(30, abs=2)  # the change is shown, not judged


def test_run_sets_catch_a_class_slowdown_and_pass_identical_sets(tmp_path):
    base = runs(tmp_path, "b", 3)
    same = runs(tmp_path, "s", 3, seed0=10)
    r = invoke("compare", *sets(base, same), "--json")
    data = json.loads(r.stdout)
    assert r.exit_code == 0, r.output
    assert data["spread"] == "3 base runs + 3 new runs"
    assert {c["verdict"] for c in data["classes"]} == {"same"}
    slow = runs(tmp_path, "x", 3, seed0=20, slow=1.25, slow_from=2)
    r = invoke("compare", *sets(base, slow), "--json")
    data = json.loads(r.stdout)
    assert r.exit_code == 1, r.output
    cls = classes(data)
    assert cls["collective at 2 ranks"]["verdict"] == "regression"
    assert cls["collective at 4 ranks"]["delta_pct"] == pytest.approx(25, abs=2)
    assert cls["collective at 1 rank"]["verdict"] == "same"
    assert data["uniform"] is None  # the 1-rank class did not move: not everything
    # the same change is within a 30% threshold
    assert invoke("compare", *sets(base, slow), "--threshold", "30").exit_code == 0


def test_history_gives_a_single_pair_its_spread(tmp_path):
    history = tmp_path / "runs"
    runs(history, "h", 3, seed0=30)  # earlier runs of the same configuration
    base = write_run(tmp_path / "base", seed=0, rounds=ROUNDS, drift=0.01, training=False)
    slow = write_run(tmp_path / "slow", seed=1, rounds=ROUNDS, drift=0.01, training=False,
                     slow=1.25, slow_from=2)  # fmt: skip
    r = invoke("compare", base, slow, "--runs-dir", history, "--json")
    data = json.loads(r.stdout)
    assert r.exit_code == 1, r.output
    assert data["spread"] == "1 base run and 3 earlier runs like it" and len(data["history"]) == 3
    assert classes(data)["collective at 2 ranks"]["verdict"] == "regression"
    again = write_run(tmp_path / "again", seed=2, rounds=ROUNDS, drift=0.01, training=False)
    assert invoke("compare", base, again, "--runs-dir", history).exit_code == 0
    # another configuration is not history
    other = tmp_path / "other"
    runs(other, "o", 3, seed0=40, world_sizes=(1, 2))
    data = json.loads(invoke("compare", base, slow, "--runs-dir", other, "--json").stdout)
    assert data["history"] == [] and data["regressions"] == 0


def test_everything_slower_is_a_regression_with_run_sets(tmp_path):
    base = runs(tmp_path, "b", 3)
    slower = runs(tmp_path, "u", 3, seed0=50, slow=1.2)  # every class, 1 rank included
    r = invoke("compare", *sets(base, slower))
    assert r.exit_code == 1, r.output
    first = r.output.splitlines()[0]
    assert first.startswith("everything moved +") and ": regression: " in first
    data = json.loads(invoke("compare", *sets(base, slower), "--json").stdout)
    assert data["uniform"]["verdict"] == "regression"
    assert data["uniform"]["pct"] == pytest.approx(20, abs=2)
    # the user knows the host changed: the shift is taken out, nothing else moved
    r = invoke("compare", *sets(base, slower), "--accept-shift", "--json")
    data = json.loads(r.stdout)
    assert r.exit_code == 0, r.output
    assert data["uniform"]["verdict"] == "accepted"
    assert all(abs(c["delta_pct"]) < 2 for c in data["classes"] if c["kind"] == "class")


def test_everything_slower_from_single_runs(tmp_path):
    base = write_run(tmp_path / "base", seed=0, rounds=ROUNDS, drift=0.01, training=False)
    slower = write_run(tmp_path / "slow", seed=1, rounds=ROUNDS, drift=0.01, training=False,
                       slow=1.2)  # fmt: skip
    r = invoke("compare", base, slower, "--no-history")
    assert r.exit_code == 0, r.output  # nothing in the manifests changed: undecided, said first
    first = r.output.splitlines()[0]
    assert first.startswith("undecided: everything moved +")
    assert "nothing in the manifests changed" in first
    # the same move with a new torch is a regression, named with the manifest diff
    manifest = json.loads((slower / "manifest.json").read_text())
    manifest["ranks"] = [{**r, "torch": "2.6.0"} for r in manifest["ranks"]]
    (slower / "manifest.json").write_text(json.dumps(manifest))
    r = invoke("compare", base, slower, "--no-history")
    assert r.exit_code == 1, r.output
    lines = r.output.splitlines()
    assert ": regression: the stack changed: torch: 2.5.0 -> 2.6.0" in lines[0]
    assert lines[1] == "what changed:" and lines[2].strip() == "torch: 2.5.0 -> 2.6.0"


def test_failures_are_regressions_whatever_the_runs_say(tmp_path):
    base = write_run(tmp_path / "base", seed=0, rounds=ROUNDS, drift=0.01)
    b = load_run(base)
    n = load_run(shutil.copytree(base, tmp_path / "new"))
    coll = n.collectives.copy()
    coll.loc[0, "wrong"] = 12
    train = n.training.copy()
    train.loc[(train.workload == "transformer") & (train.world_size == 4), "status"] = "oom"
    c = compare_sets([b], [dataclasses.replace(n, collectives=coll, training=train)])
    assert c.exit_code == 1
    assert c.failures == ["all_reduce float32 1 ranks 1K: #wrong 12",
                          "transformer tiny fp32 batch 4 4 ranks: status oom"]  # fmt: skip


def test_unmatched_points_are_listed_not_regressions(tmp_path):
    base = write_run(tmp_path / "base", seed=0, rounds=ROUNDS, training=False)
    small = write_run(tmp_path / "small", world_sizes=(1, 2), training=False, rounds=ROUNDS)
    r = invoke("compare", base, small, "--no-history", "--json")
    result = json.loads(r.stdout)
    assert r.exit_code == 0
    assert "all_reduce float32 4 ranks 1K" in result["only_in_base"]
    assert result["only_in_new"] == []


def test_the_same_run_or_a_copy_on_both_sides_is_exit_2(tmp_path):
    """A run compared with (a copy of) itself shows no change by construction, so a gate built
    on it would pass forever (collector/coverage.py)."""
    base = write_run(tmp_path / "base", seed=0, rounds=ROUNDS, training=False)
    same = shutil.copytree(base, tmp_path / "same")
    assert compare_sets([load_run(base)], [load_run(same)]).regressions == 0  # the judge alone
    for args in ((base, same), (base, base), (base, same, "--json"),
                 ("--base", base, "--base", tmp_path / "x", "--new", same)):  # fmt: skip
        r = CliRunner().invoke(main, [str(a) for a in ("compare", *args)])
        assert r.exit_code == 2, r.output
        assert r.stdout == "" and len(r.stderr.splitlines()) == 1, r.output
        assert "same" in r.stderr and "Traceback" not in r.output


def test_no_point_in_common_is_exit_2_naming_the_points(tmp_path):
    """After a config change (other ops) nothing matches: not a pass (collector/coverage.py
    says why exit 2, not 1)."""
    base = write_run(tmp_path / "base", training=False, rounds=2)
    other = write_run(tmp_path / "other", training=False, rounds=2, ops=("broadcast",))
    r = CliRunner().invoke(main, ["compare", str(base), str(other), "--no-history"])
    assert r.exit_code == 2, r.output
    assert "no regressions" not in r.stdout and "nothing compared" in r.stdout
    (line,) = r.stderr.splitlines()
    assert "none of BASE's 24 points matched in NEW" in line
    assert "not in NEW: all_reduce float32 1 ranks 1K" in line and "and 19 more" in line
    assert "NEW has instead: broadcast float32" in line


def test_too_few_points_matched_is_exit_2_unless_the_share_is_lowered(tmp_path):
    base = write_run(tmp_path / "base", training=False, rounds=2)  # 2 ops x 3 sizes x 4 sizes
    fewer = write_run(tmp_path / "one", training=False, rounds=2, world_sizes=(1,), seed=1)
    r = CliRunner().invoke(main, ["compare", str(base), str(fewer), "--no-history"])
    assert r.exit_code == 2, r.output
    assert "only 8 of BASE's 24 points matched in NEW (33%, below 50%)" in r.stderr
    assert "not in NEW: all_reduce float32 2 ranks 1K" in r.stderr
    r = CliRunner().invoke(main, ["compare", str(base), str(fewer), "--min-matched", "30",
                                  "--no-history"])  # fmt: skip
    assert r.exit_code == 0, r.output
    # the other way round every point of BASE (1 rank) is in NEW: a full comparison
    r = CliRunner().invoke(main, ["compare", str(fewer), str(base), "--no-history"])
    assert r.exit_code == 0, r.output


def test_a_regression_among_few_matched_points_is_exit_1_with_the_coverage_warning(tmp_path):
    ops = ("all_reduce", "all_gather", "broadcast")
    base = runs(tmp_path, "b", 2, ops=ops)
    new = runs(tmp_path, "n", 2, seed0=10, world_sizes=(1, 2), ops=("all_reduce",), slow=1.25,
               slow_from=2)  # fmt: skip
    r = CliRunner().invoke(main, ["compare", *map(str, sets(base, new)), "--no-history"])
    assert r.exit_code == 1, r.output  # measured slower: that stands, whatever the coverage
    assert "regression(s) over 2 classes and 8 points" in r.stdout
    assert r.stderr.startswith("warning: incomplete comparison: only 8 of BASE's 36 points")


def test_bad_input_is_one_line_exit_2(tmp_path):
    base = write_run(tmp_path / "base", seed=0, rounds=2, training=False)
    other = write_run(tmp_path / "other", seed=1, rounds=2, training=False)
    r = invoke("compare", base, tmp_path / "missing")
    assert r.exit_code == 2
    assert r.stderr.strip() == f"Error: {tmp_path / 'missing'}: no such run directory"
    for bad in (
        [base, other, "--threshold", "-1"],
        [base, other, "--confidence", "1.5"],
        ["--base", base, "--new", other, "--new", base],
        [base],
        ["--base", base],
        [base, other, "--new", other],
    ):
        r = invoke("compare", *bad)
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, (bad, r.output)


def test_a_copy_is_no_evidence_within_a_side_or_as_history(tmp_path):
    base = runs(tmp_path, "b", 2)
    new = runs(tmp_path, "n", 2, seed0=10, slow=1.08)
    copy = shutil.copytree(base[0], tmp_path / "copy")
    r = invoke("compare", "--base", base[0], "--base", copy, "--new", new[0], "--no-history")
    assert r.exit_code == 2 and "same samples byte for byte" in r.stderr  # zero spread, p = 0
    history = tmp_path / "hist"
    history.mkdir()
    shutil.copytree(base[0], history / "copy")
    data = json.loads(invoke("compare", base[0], new[0], "--runs-dir", history, "--json").stdout)
    assert data["history"] == [] and data["spread"].startswith("none")


def test_points_some_run_did_not_time_count_against_the_coverage(tmp_path):
    full = write_run(tmp_path / "a1", training=False, rounds=2)
    one_rank = write_run(tmp_path / "a2", training=False, rounds=2, world_sizes=(1,), seed=1)
    new = write_run(tmp_path / "n1", training=False, rounds=2, seed=2)
    r = CliRunner().invoke(main, ["compare", "--base", str(full), "--base", str(one_rank),
                                  "--new", str(new), "--no-history"])  # fmt: skip
    assert r.exit_code == 2, r.output
    assert "only 8 of BASE's 24 points matched in NEW" in r.stderr
    assert "not timed in every run: all_reduce float32 2 ranks 1K" in r.stderr
