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
from scaling.collector.collectives import summarize
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
    assert len([x for x in recs if x["type"] == "check"]) == (1 + 2) * 3 * 2
    table = pd.read_csv(out / "summary.csv")
    assert list(table["iters"]) == [8] * 6 and table["time_p50_us"].gt(0).all()


@pytest.mark.slow
def test_reduced_samples_give_the_same_summary(ray_local3):
    """The same measured times, sent whole and reduced: every summary figure is identical,
    and each reduced record is the slowest rank's own sample of that iteration."""
    full, reduced = [], []
    gang3 = Gang(3, "cpu", timeout_s=120)
    with gang3.group(3) as grp:
        for op in ("all_reduce", "all_gather"):
            for size in (1024, 65536):
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
    # The check stays per rank: a wrong rank can still be named.
    assert sorted(r[r["type"] == "check"]["rank"].unique()) == [0, 1, 2]


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
        {"times": [3e-5, 5e-5], "slowest_ranks": [2, 0], "wrong": 0, "member": True},
        {"times": [], "wrong": 1, "member": True},
        {"times": [], "wrong": 0, "member": True},
    ]
    group = SimpleNamespace(nodes=1, span="intra-node", shape="3 = 1 node × 3")
    recs = collectives.records(point, group, answers)
    coll = [(r["iter"], r["rank"], r["time_s"], r["reduced"]) for r in recs if r["type"] == "coll"]
    assert coll == [(0, 2, 3e-5, "max"), (1, 0, 5e-5, "max")]
    assert [(r["rank"], r["wrong"]) for r in recs if r["type"] == "check"] == [
        (0, 0),
        (1, 1),
        (2, 0),
    ]
