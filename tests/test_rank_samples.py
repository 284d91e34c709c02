"""--rank-samples slowest: the ranks reduce (MAX per iteration) before sending, and the
collector's figures do not change. Real Ray actors, real gloo groups (docs/scale.md)."""

import json
import sys
from types import SimpleNamespace

import pandas as pd
import pytest
import ray
from click.testing import CliRunner

from scaling.cli import main
from scaling.cluster.gang import Gang
from scaling.collector.collectives import summarize, wrong_ranks
from scaling.collector.headline import _correctness
from scaling.workloads import collectives

# The ranks cannot import this test module: Ray ships `both_ways` by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def both_ways(spec: dict) -> dict:
    """Rank side: one measurement, returned whole and reduced in the group (bench.slowest_only)."""

    from scaling.workloads.collectives.bench import run_point, slowest_only
    from scaling.workloads.timing import rank_device

    full = run_point(spec)
    return {
        "full": full,
        "reduced": slowest_only(full["times"], full["wrong"], None, rank_device()),
    }


@pytest.mark.slow
def test_cli_rank_samples_slowest_writes_one_sample_per_iteration(ray_local3, tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(
        main,
        [
            "run",
            "--gpus",
            "1,2",
            "--workloads",
            "collectives",
            "--max-bytes",
            "4K",
            "--iters",
            "4",
            "--warmup",
            "1",
            "--repeats",
            "2",
            "--rank-samples",
            "slowest",
            "--out",
            str(out),
        ],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    recs = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    coll = [x for x in recs if x["type"] == "coll"]
    # 3 sizes x 2 rounds x 4 iterations per world size, one record each, none per rank.
    assert len(coll) == 2 * 3 * 2 * 4
    assert all(x["reduced"] == "max" and x["rank"] < x["world_size"] for x in coll)
    # one check per point and round for the whole group, none per rank
    checks = [x for x in recs if x["type"] == "check"]
    assert len(checks) == (1 + 1) * 3 * 2
    assert all(x["reduced"] == "sum" and x["wrong"] == 0 and x["wrong_ranks"] == [] for x in checks)
    assert not any("rank" in x for x in checks)
    table = pd.read_csv(out / "summary.csv")
    assert list(table["iters"]) == [8] * 6 and table["time_p50_us"].gt(0).all()


@pytest.mark.slow
def test_reduced_samples_give_the_same_summary(ray_local3):
    """The same measured times and checks, sent whole and reduced: every summary figure is
    identical, each reduced record is the slowest rank's own sample of that iteration, and a
    planted wrong element (rank 1, 65536 bytes) names its rank both ways."""
    full, reduced = [], []
    gang3 = Gang(3, "cpu", timeout_s=120)
    with gang3.group(3) as grp:
        for op in ("all_reduce", "all_gather"):
            for size in (1024, 65536):
                fault = {"fault": {"rank": 1, "elements": 2}} if size == 65536 else {}
                shape = collectives.point_shape(op, size, "float32", 3)
                point = {
                    "op": op,
                    "dtype": "float32",
                    "world_size": 3,
                    "warmup": 1,
                    "iters": 12,
                    "timing": "blocking",
                    "depth": 1,
                    "check": True,
                    **shape,
                    **fault,
                }
                res = gang3.call(grp.actors, "run", both_ways, point)
                full += collectives.records(point, grp, [r["full"] for r in res])
                reduced += collectives.records(point, grp, [r["reduced"] for r in res])
    gang3.shutdown()
    f, r = pd.DataFrame(full), pd.DataFrame(reduced)
    assert len(r[r["type"] == "coll"]) == len(f[f["type"] == "coll"]) / 3  # one per iteration
    pd.testing.assert_frame_equal(summarize(f), summarize(r))
    # Each reduced record is one of the full rows (same rank, iteration and time) and the max.
    coll = f[f["type"] == "coll"]
    keys = ["op", "size_bytes", "iter", "rank", "time_s"]
    picked = r[r["type"] == "coll"].merge(coll[keys], on=keys, how="left", indicator=True)
    assert (picked["_merge"] == "both").all()
    slowest = coll.groupby(["op", "size_bytes", "iter"])["time_s"].max()
    got = r[r["type"] == "coll"].set_index(["op", "size_bytes", "iter"])["time_s"].sort_index()
    pd.testing.assert_series_equal(got, slowest)
    # One check per point reduced, one per rank whole; the wrong rank is named both ways.
    assert len(r[r["type"] == "check"]) == 4 and len(f[f["type"] == "check"]) == 12
    assert list(summarize(r)["wrong"]) == [0, 2, 0, 2]
    named_f, named_r = wrong_ranks(f), wrong_ranks(r)
    pd.testing.assert_frame_equal(named_f, named_r)
    assert list(named_r["size_bytes"] > 4096) == [True, True]  # all_gather rounds S to 3 ranks
    assert list(named_r["wrong_ranks"]) == [[1], [1]]
    # summary.csv's wrong_ranks and the headline name it too, from either form
    assert summarize(r)["wrong_ranks"].fillna("").tolist() == ["", "1", "", "1"]
    fail = [v.text for v in _correctness(summarize(r)) if v.level == "fail"]
    assert len(fail) == 1 and " on rank 1" in fail[0], fail


def test_records_of_a_reduced_point_are_one_per_iteration_with_the_slowest_rank():
    """Pure logic (no ranks): how `records` reads bench.slowest_only's answers."""
    point = {
        "op": "all_reduce",
        "dtype": "float32",
        "world_size": 3,
        "size_bytes": 1024,
        "count": 256,
        "timing": "blocking",
        "group": "world",
        "nodes": 1,
        "span": "intra-node",
        "shape": "3 = 1 node × 3",
    }
    answers = [
        {
            "times": [3e-5, 5e-5],
            "slowest_ranks": [2, 0],
            "wrong": 3,
            "wrong_ranks": [1, 2],
            "member": True,
            "reduced": True,
        },
        {"times": [], "member": True, "reduced": True},
        {"times": [], "member": True, "reduced": True},
    ]
    group = SimpleNamespace(nodes=1, span="intra-node", shape="3 = 1 node × 3")
    recs = collectives.records(point, group, answers)
    coll = [(r["iter"], r["rank"], r["time_s"], r["reduced"]) for r in recs if r["type"] == "coll"]
    assert coll == [(0, 2, 3e-5, "max"), (1, 0, 5e-5, "max")]
    checks = [r for r in recs if r["type"] == "check"]
    assert [(c["wrong"], c["wrong_ranks"], c["reduced"], "rank" in c) for c in checks] == [
        (3, [1, 2], "sum", False)
    ]
    named = wrong_ranks(pd.DataFrame(recs).assign(round=0))
    assert list(named["wrong_ranks"]) == [[1, 2]]
