"""Training workloads on real Ray actors and gloo groups: the CLI end to end, injected faults."""

import json
import math

import pandas as pd
import pytest
from click.testing import CliRunner

from scaling.cli import main
from scaling.collector.training import TRAINING_COLUMNS, summarize
from scaling.config import load_config
from scaling.workloads import training, transformer

pytestmark = pytest.mark.slow

# Tiny presets, few steps: the figures are not the point here, the plumbing is.
QUICK = """
repeats = 1
[training]
warmup = 1
steps = 3
[resnet50]
preset = "tiny"
batch = 4
[transformer]
preset = "tiny"
"""


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def quick(tmp_path):
    path = tmp_path / "quick.toml"
    path.write_text(QUICK)
    return path


def samples(out):
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def test_both_workloads_at_one_and_two_ranks(ray_local, quick, tmp_path):
    out = tmp_path / "run"
    r = invoke(
        "run", "--gpus", "1,2", "--workloads", "resnet50,transformer", "--config", quick,
        "--out", out,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "resnet50 — preset tiny, fp32, weak scaling" in r.stdout
    assert "synthetic data" in r.stdout and "efficiency" in r.stdout

    t = pd.read_csv(out / "training.csv")
    assert list(t.columns) == TRAINING_COLUMNS
    assert sorted(zip(t.workload, t.world_size, strict=True)) == [
        ("resnet50", 1), ("resnet50", 2), ("transformer", 1), ("transformer", 2),
    ]  # fmt: skip
    assert (t.status == "ok").all() and t.consistent.all() and (t.preset == "tiny").all()
    assert (t.scaling == "weak").all() and (t.precision == "fp32").all()
    assert (t.batch_per_rank == t.workload.map({"resnet50": 4, "transformer": 8})).all()
    assert (t.global_batch == t.batch_per_rank * t.world_size).all()
    for row in t.itertuples():
        assert row.samples_per_s > 0 and row.flops_per_step > 0 and row.peak_mem_bytes_max > 0
        assert math.isnan(row.mfu)  # CPU: no peak
        assert math.isnan(row.tokens_per_s) == (row.workload == "resnet50")
        if row.world_size == 1:
            assert row.efficiency == 1.0 and row.comm_fraction == 0 and math.isnan(row.overlap)
        else:
            assert row.efficiency > 0 and row.t_comm_s > 0 and not math.isnan(row.overlap)

    recs = samples(out)
    steps = pd.DataFrame([x for x in recs if x["type"] == "step"])
    phases = steps.groupby(["workload", "world_size"])["phase"].agg(lambda p: sorted(set(p)))
    assert phases[("resnet50", 1)] == ["ddp"]  # one rank: no DDP, nothing to sync or compare
    assert phases[("resnet50", 2)] == ["comm", "compute", "ddp", "local"]
    # 3 measured steps per rank and phase
    assert (steps.groupby(["workload", "world_size", "phase", "rank"]).size() == 3).all()
    points = [x for x in recs if x["type"] == "train_point" and x["world_size"] == 2]
    for wl in ("resnet50", "transformer"):
        pair = [p for p in points if p["workload"] == wl]
        assert [p["rank"] for p in pair] == [0, 1] and pair[0]["ddp"] is True
        assert pair[0]["checksum_bits"] == pair[1]["checksum_bits"]
        assert (
            pair[0]["mem_kind"] == "rss" and sum(pair[0]["bucket_bytes"]) == 4 * (pair[0]["params"])
        )


def test_oom_is_recorded_and_the_sweep_goes_on(ray_local, quick, tmp_path, monkeypatch):
    """World size 1 runs out of memory, 2 still runs; there a rank diverges: exit 1."""
    plan = transformer.WORKLOAD.plan

    def faulty(cfg, n):
        fault = {"oom_rank": 0} if n == 1 else {"diverge_rank": 1}
        return [dict(p, fault=fault) for p in plan(cfg, n)]

    monkeypatch.setattr(transformer.WORKLOAD, "plan", faulty)
    out = tmp_path / "run"
    r = invoke(
        "run", "--gpus", "1,2", "--workloads", "transformer", "--config", quick, "--out", out
    )
    assert r.exit_code == 1, r.output
    assert "consistency check failed" in r.stderr and "transformer at 2 ranks" in r.stderr
    t = pd.read_csv(out / "training.csv").set_index("world_size")
    assert t.loc[1, "status"] == "oom" and "out of memory at batch 8 per rank" in t.loc[1, "flags"]
    assert t.loc[2, "status"] == "ok" and not t.loc[2, "consistent"]
    assert "parameters differ across ranks" in t.loc[2, "flags"]
    assert "world size 1 ran out of memory" in t.loc[2, "flags"]
    assert json.loads((out / "manifest.json").read_text())["status"] == "ok"


# Gang-level tests last: the module's gang holds both CPUs until the module ends.


@pytest.fixture(scope="module")
def gang2(ray_owner):
    from scaling.cluster.gang import Gang

    ray_owner.local(2)
    g = Gang(2, "cpu", timeout_s=120)
    yield g
    g.shutdown()


def spec(**kw):
    cfg = load_config(overrides={"training.warmup": 1, "training.steps": 3, "gpus": "1,2"})
    return {**transformer.WORKLOAD.plan(cfg, 2)[0], **kw}


def test_oom_on_one_rank_ends_the_point_on_both(gang2):
    with gang2.group(2) as grp:
        res = gang2.call(grp.actors, "run", training.TARGET, spec(fault={"oom_rank": 1}))
        assert [r["status"] for r in res] == ["oom", "oom"]
        assert res[0]["oom_ranks"] == [1] and res[0]["failed_stage"] == "probe"
        # memory freed, group intact: the next point runs
        res = gang2.call(grp.actors, "run", training.TARGET, spec())
        assert [r["status"] for r in res] == ["ok", "ok"]
        assert res[0]["checksum_bits"] == res[1]["checksum_bits"]


def test_slow_rank_is_flagged_as_straggler(gang2):
    p = spec(fault={"slow_rank": 1, "delay_s": 0.05})
    with gang2.group(2) as grp:
        res = gang2.call(grp.actors, "run", training.TARGET, p)
        row = summarize(pd.DataFrame(training.records(p, grp, res))).iloc[0]
    assert row.straggler_ranks == "1" and "straggler rank 1" in row["flags"]
    assert row.consistent == True  # noqa: E712


def test_a_failing_rank_fails_the_point_on_every_rank(gang2):
    """An error in a collective-free stage reaches every rank with its message; no hang."""
    from scaling.cluster.gang import GangError

    with gang2.group(2) as grp:
        with pytest.raises(GangError, match="rank 1 failed in build: RuntimeError: injected"):
            gang2.call(grp.actors, "run", training.TARGET, spec(fault={"error_rank": 1}))
        # the group survives: no rank was left inside a collective
        res = gang2.call(grp.actors, "run", training.TARGET, spec())
        assert [r["status"] for r in res] == ["ok", "ok"]
