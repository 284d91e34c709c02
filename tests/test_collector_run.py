"""The collector against hand-computed figures, and its tolerance of torn, corrupt and partial runs."""

import json
import math
import sys
import types

import pandas as pd
import pytest

from scaling.collector.curves import per_rank_step_times, rank_list, scaling_curves
from scaling.collector.load import SampleWarning, read_samples
from scaling.collector.loaded_run import TRAINING_COLUMNS, NotARunDir, load_run
from scaling.rundir import RunDir
from tests.synthetic_runs import (
    corrupt,
    training_table,
    truncate_last_line,
    write_run,
)

POINT = dict(type="coll", workload="collectives", group="world", op="all_reduce", nodes=1,
             size_bytes=1_000_000, count=250_000, dtype="float32", timing="blocking")  # fmt: skip
# 2 ranks, 4 iterations; the slowest rank per iteration: 2, 4, 1, 3 ms.
TIMES = {0: (1e-3, 2e-3), 1: (4e-3, 3e-3), 2: (1e-3, 1e-3), 3: (3e-3, 2e-3)}


def _hand_run(path, status="ok", ended=True):
    rd = RunDir(path)
    rd.write_manifest(status=status, ended="2026-01-01T00:01:00+00:00" if ended else None,
                      device="cpu", backend="gloo", error=None)  # fmt: skip
    recs = []
    for it, per_rank in TIMES.items():
        recs += [
            dict(POINT, world_size=2, iter=it, rank=r, time_s=t) for r, t in enumerate(per_rank)
        ]
    recs += [dict(POINT, world_size=1, iter=it, rank=0, time_s=TIMES[it][0]) for it in TIMES]
    check = {k: v for k, v in POINT.items() if k != "type"}
    recs += [dict(check, type="check", world_size=2, rank=0, wrong=0)]
    recs += [dict(check, type="check", world_size=2, rank=1, wrong=3)]
    recs += [dict(check, type="check", world_size=1, rank=0, wrong=None)]
    rd.append_samples(recs)
    rd.close()
    return path


def test_collectives_figures_match_hand_computation(tmp_path):
    run = load_run(_hand_run(tmp_path / "r"))
    two = run.collectives[run.collectives.world_size == 2].iloc[0]
    assert two.iters == 4
    # slowest per iteration sorted: 1, 2, 3, 4 ms; linear-interpolated percentiles
    assert two.time_p50_us == pytest.approx(2500)
    assert two.time_p90_us == pytest.approx(3700)  # 3 + 0.7 * (4 - 3) ms
    assert two.time_p99_us == pytest.approx(3970)
    assert (two.time_min_us, two.time_max_us) == pytest.approx((1000, 4000))
    assert two.algbw_gbps == pytest.approx(1e6 / 2.5e-3 / 1e9)  # 0.4 GB/s
    assert two.busbw_gbps == pytest.approx(0.4 * 2 * (2 - 1) / 2)
    assert two.wrong == 3
    one = run.collectives[run.collectives.world_size == 1].iloc[0]
    assert one.time_p50_us == pytest.approx(2000)  # rank 0 alone: 1, 4, 1, 3 ms
    assert math.isnan(one.busbw_gbps) and math.isnan(one.wrong)  # n/a: 1 rank; unchecked
    assert not run.partial and run.warnings == []
    b = run.headline.busbw
    assert b["world_size"] == 2 and b["busbw_gbps"] == pytest.approx(0.4)
    assert b["ratio"] is None and b["note"] == "no ceiling: CPU/gloo"
    fail = [v.text for v in run.headline.verdicts if v.level == "fail"]
    assert fail and "3 wrong elements in 1 collective points" in fail[0]


def test_corrupt_line_is_skipped_with_a_warning_naming_it(tmp_path):
    path = _hand_run(tmp_path / "r")
    corrupt(path, 3)
    with pytest.warns(SampleWarning, match=r"samples.jsonl:3: skipped unreadable sample"):
        samples = read_samples(path)
    assert len(samples) == 8 + 4 + 3 - 1
    run = load_run(path)
    assert any("samples.jsonl:3:" in w for w in run.warnings)
    # iteration 1 lost rank 0's 4 ms (line 3): its slowest is now rank 1's 3 ms
    two = run.collectives[run.collectives.world_size == 2].iloc[0]
    assert two.time_max_us == pytest.approx(3000)


def test_line_without_type_and_non_object_line(tmp_path):
    path = _hand_run(tmp_path / "r")
    corrupt(path, 2, '{"no_type": 1}')
    corrupt(path, 5, "[1, 2]")
    with pytest.warns(SampleWarning) as caught:
        samples = read_samples(path)
    messages = [str(w.message) for w in caught]
    assert any(":2: skipped sample without a type" in m for m in messages)
    assert any(":5: skipped sample without a type" in m for m in messages)
    assert len(samples) == 15 - 2


def test_truncated_last_line_keeps_the_rest_on_the_fast_path(tmp_path):
    path = _hand_run(tmp_path / "r")
    n = truncate_last_line(path)
    with pytest.warns(SampleWarning, match=rf"samples.jsonl:{n}: skipped unreadable sample"):
        samples = read_samples(path)
    assert len(samples) == n - 1


@pytest.mark.parametrize("fast", [True, False])
def test_fast_and_tolerant_paths_agree(tmp_path, fast):
    path = write_run(tmp_path / "r", world_sizes=(1, 2))
    ref = read_samples(path, fast=False)
    got = read_samples(path, fast=fast)
    cols = sorted(ref.columns)
    pd.testing.assert_frame_equal(
        got[cols].reset_index(drop=True), ref[cols].reset_index(drop=True), check_dtype=False
    )


def test_fast_path_without_pyarrow_uses_one_json_parse(tmp_path, monkeypatch):
    path = write_run(tmp_path / "r", world_sizes=(1, 2))
    ref = read_samples(path, fast=False)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    got = read_samples(path)
    assert len(got) == len(ref) and set(got.columns) == set(ref.columns)


@pytest.mark.parametrize(
    "status,ended,reason",
    [
        ("failed", True, "status failed: RuntimeError: planted failure"),
        ("interrupted", True, "status interrupted"),
        ("running", False, "status running"),
        ("ok", False, "the run never recorded its end"),
    ],
)
def test_partial_runs(tmp_path, status, ended, reason):
    path = _hand_run(tmp_path / "r", status=status, ended=ended)
    if status == "failed":
        manifest = json.loads((path / "manifest.json").read_text())
        manifest["error"] = "RuntimeError: planted failure"
        (path / "manifest.json").write_text(json.dumps(manifest))
    run = load_run(path)
    assert run.partial and run.partial_reason.startswith(reason)
    assert not run.collectives.empty  # what was measured is still there
    assert (
        run.headline.verdicts[0].level == "fail" and "partial run" in run.headline.verdicts[0].text
    )


def test_missing_manifest_is_partial_and_missing_dir_is_not_a_run(tmp_path):
    path = _hand_run(tmp_path / "r")
    (path / "manifest.json").unlink()
    assert load_run(path).partial_reason == "no manifest.json"
    with pytest.raises(NotARunDir, match="no such run directory"):
        load_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotARunDir, match="not a run directory"):
        load_run(tmp_path / "empty")


def test_training_summary_comes_from_the_training_collector(tmp_path, monkeypatch):
    path = write_run(tmp_path / "r", training=True)
    seen = {}
    fake = types.ModuleType("scaling.collector.training")

    def summarize(samples, manifest=None):
        seen["steps"] = int((samples["type"] == "step").sum())
        seen["manifest"] = manifest
        return training_table()

    fake.summarize = summarize
    monkeypatch.setattr("scaling.collector.training.summarize", fake.summarize)
    run = load_run(path)
    assert seen["steps"] > 0 and seen["manifest"]["status"] == "ok"
    assert list(run.training.columns) == TRAINING_COLUMNS and len(run.training) == 6


def test_training_collector_failure_is_a_note_not_a_crash(tmp_path, monkeypatch):
    path = write_run(tmp_path / "r", training=True)
    fake = types.ModuleType("scaling.collector.training")
    fake.summarize = lambda samples, manifest=None: 1 / 0
    monkeypatch.setattr("scaling.collector.training.summarize", fake.summarize)
    run = load_run(path)
    assert run.training.empty and not run.collectives.empty
    assert any("training summary failed (ZeroDivisionError" in w for w in run.warnings)


def test_no_training_rows(tmp_path, monkeypatch):
    fake = types.ModuleType("scaling.collector.training")
    fake.summarize = lambda samples, manifest=None: pd.DataFrame(columns=TRAINING_COLUMNS)
    monkeypatch.setattr("scaling.collector.training.summarize", fake.summarize)
    run = load_run(_hand_run(tmp_path / "r"))
    assert run.training.empty and run.curves.empty and run.per_rank.empty
    assert run.headline.efficiency == []


def test_curves_ideal_line_and_headline_efficiency():
    t = training_table()
    c = scaling_curves(t)
    r4 = c[(c.workload == "resnet50") & (c.world_size == 4)].iloc[0]
    # 1 rank: 8 samples / 0.100 s = 80/s; ideal at 4 ranks = 320/s
    assert r4.ideal_samples_per_s == pytest.approx(320)
    # 4 ranks: 4 * 8 / (0.100 + 0.020) = 266.67/s -> efficiency 266.67 / 320
    assert r4.samples_per_s == pytest.approx(266.6667, rel=1e-4)
    from scaling.collector.headline import headline

    h = headline({"device": "cpu"}, pd.DataFrame(columns=["op"]), t)
    eff = {e["workload"]: e for e in h.efficiency}
    assert eff["resnet50"]["world_size"] == 4
    assert eff["resnet50"]["efficiency"] == pytest.approx(266.6667 / 320, rel=1e-4)
    warn = [v.text for v in h.verdicts if v.level == "warn"]
    assert any("resnet50 at 4 ranks: straggler rank(s) 3" in w for w in warn)


def test_curve_without_one_rank_point_has_no_ideal():
    t = training_table(world_sizes=(2, 4))
    assert scaling_curves(t)["ideal_samples_per_s"].isna().all()


def test_per_rank_prefers_compute_timing_and_finds_the_straggler(tmp_path):
    run = load_run(write_run(tmp_path / "r"))
    p = run.per_rank
    assert set(p.phase) == {"compute"}
    at4 = p[(p.workload == "resnet50") & (p.world_size == 4)].set_index("rank")
    assert at4.loc[3, "vs_median"] == pytest.approx(1.25)
    assert at4.loc[0, "vs_median"] == pytest.approx(1.0)


def test_per_rank_without_steps():
    assert per_rank_step_times(pd.DataFrame({"type": ["coll"]})).empty


@pytest.mark.parametrize(
    "value,ranks",
    [(None, []), (float("nan"), []), ("", []), ("3", [3]), (3.0, [3]), ("3;5", [3, 5]),
     ("[3, 5]", [3, 5]), ([1, 2], [1, 2])],
)  # fmt: skip
def test_rank_list(value, ranks):
    assert rank_list(value) == ranks


def test_tables_written_with_parquet(tmp_path, monkeypatch):
    from scaling.sinks.tables import write_tables

    run = load_run(write_run(tmp_path / "r"))
    names = sorted(p.name for p in write_tables(run))
    assert names == ["summary.csv", "summary.parquet", "training.csv", "training.parquet"]
    back = pd.read_parquet(tmp_path / "r" / "summary.parquet")
    assert len(back) == len(run.collectives)
    assert (
        pd.read_parquet(tmp_path / "r" / "training.parquet")["straggler_ranks"].tolist()[2] == "3"
    )


def test_link_columns_come_from_the_runs_group_records(tmp_path):
    """The run records each group's link class and ceiling; rows join them by group."""
    path = write_run(tmp_path / "r", training=False)
    sizes = sorted(set(load_run(path).collectives.world_size))
    with (path / "samples.jsonl").open("a") as fh:
        for n in sizes:
            rec = {
                "type": "group",
                "group": "world",
                "world_size": int(n),
                "ranks": int(n),
                "link_class": "single rank" if n == 1 else "NV18",
                "ceiling_gbps": None if n == 1 else 400.0,
            }
            fh.write(json.dumps(rec) + "\n")
    run = load_run(path)
    assert set(run.collectives.link_class) == {"NV18", "single rank"}
    row = run.collectives[
        (run.collectives.world_size == 4) & (run.collectives.size_bytes == 1 << 20)
    ]
    assert row.busbw_ceiling_ratio.iloc[0] == pytest.approx(row.busbw_gbps.iloc[0] / 400.0)
    one = run.collectives[run.collectives.world_size == 1]
    assert one.busbw_ceiling_ratio.isna().all()  # no ceiling and no busbw at one rank
    b = run.headline.busbw
    assert b["link_class"] == "NV18" and b["ceiling_gbps"] == 400.0 and b["note"] is None
    assert b["ratio"] == pytest.approx(b["busbw_gbps"] / 400.0)


def test_whole_number_keys_are_written_as_integers(tmp_path):
    # A measured run's samples mix record types (group and start-up records carry no size):
    # pandas then held size_bytes, count, ranks and nodes as floats, and summary.csv said
    # "1000000.0" bytes.
    from scaling.sinks.tables import write_tables

    path = _hand_run(tmp_path / "r")
    with (path / "samples.jsonl").open("a") as f:
        f.write(json.dumps({"type": "group", "world_size": 2, "backend": "gloo"}) + "\n")
    write_tables(load_run(path))
    table = pd.read_csv(path / "summary.csv", dtype=str)
    for key in ("world_size", "ranks", "nodes", "size_bytes", "count"):
        assert not table[key].str.contains(".", regex=False).any(), table[key].tolist()
    assert set(table["size_bytes"]) == {"1000000"}
