"""Real Ray actors forming real gloo groups on this machine: correctness of every op."""

import pytest

from scaling.cluster.gang import Gang
from scaling.collector.collectives import summarize
from scaling.collector.formulas import busbw_factor
from scaling.workloads import collectives

pytestmark = [pytest.mark.slow, pytest.mark.ray_shape("local3")]

OPS = ["all_reduce", "all_gather", "reduce_scatter", "broadcast", "all_to_all", "sendrecv"]


def point(op, n, size=4096, dtype="float32", **kw):
    shape = collectives.point_shape(op, size, dtype, n)
    return {
        "op": op,
        "dtype": dtype,
        "world_size": n,
        "size_bytes": shape["size_bytes"],
        "count": shape["count"],
        "warmup": 1,
        "iters": 3,
        "timing": "blocking",
        "depth": 2,
        "check": True,
        **kw,
    }


@pytest.fixture(scope="module")
def gang3(ray_owner):
    ray_owner.local(3)
    g = Gang(3, "cpu", timeout_s=60)
    yield g
    g.shutdown()


@pytest.mark.parametrize("n", [1, 2, 3])
def test_every_op_and_dtype_is_exact(gang3, n):
    with gang3.group(n) as grp:
        assert len(grp.actors) == n
        for op in OPS:
            if op == "sendrecv" and n == 1:
                continue
            for dtype in ("float32", "bfloat16", "float16"):
                res = gang3.call(grp.actors, "run", collectives.TARGET, point(op, n, dtype=dtype))
                assert [r["wrong"] for r in res] == [0] * n, (op, dtype, n)
                assert all(len(r["times"]) == 3 and min(r["times"]) > 0 for r in res)


def test_pipelined_timing(gang3):
    with gang3.group(2) as grp:
        res = gang3.call(
            grp.actors, "run", collectives.TARGET, point("all_reduce", 2, timing="pipelined")
        )
        assert all(len(r["times"]) == 3 and r["wrong"] == 0 for r in res)


def test_injected_corruption_is_counted(gang3):
    with gang3.group(2) as grp:
        p = point("all_reduce", 2, fault={"rank": 1, "elements": 5})
        res = gang3.call(grp.actors, "run", collectives.TARGET, p)
        assert [r["wrong"] for r in res] == [0, 5]
        import pandas as pd

        table = summarize(pd.DataFrame(collectives.records(p, grp, res)))
        assert table["wrong"].tolist() == [5]


def test_torchrun_env_and_summary_math(gang3):
    import pandas as pd

    with gang3.group(3) as grp:
        envs = gang3.call(grp.actors, "env_view")
        assert [e["RANK"] for e in envs] == ["0", "1", "2"]
        assert {e["WORLD_SIZE"] for e in envs} == {"3"}
        assert {e["LOCAL_WORLD_SIZE"] for e in envs} == {"3"}
        assert {e["NODE_RANK"] for e in envs} == {"0"}
        p = point("all_reduce", 3, size=65536)
        res = gang3.call(grp.actors, "run", collectives.TARGET, p)
    recs = collectives.records(p, grp, res)
    assert len([r for r in recs if r["type"] == "coll"]) == 3 * 3
    row = summarize(pd.DataFrame(recs)).iloc[0]
    # the op's time per iteration is the slowest rank's; p50 over iterations
    slowest = sorted(max(r["times"][i] for r in res) for i in range(3))[1]
    assert row["time_p50_us"] == pytest.approx(slowest * 1e6)
    assert row["busbw_gbps"] == pytest.approx(
        p["size_bytes"] / slowest / 1e9 * busbw_factor("all_reduce", 3)
    )


def test_ranks_run_at_normal_priority(gang3):
    # Ray starts workers at nice 15; a niced rank waits behind every other thread.
    assert [m["nice"] for m in gang3.metas] == [0, 0, 0]
