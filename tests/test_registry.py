"""One registration adds a collective or a workload: planned, run over gloo, summarized.

Nothing outside this file changes: the op and the workload exist only while registered.
"""

import json
import time
from dataclasses import dataclass

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from scaling.cli import main
from scaling.workloads.catalog import WORKLOADS, Table, Workload
from scaling.workloads.collectives import ops
from scaling.workloads.collectives.ops import Collective

pytestmark = pytest.mark.slow


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


# An all-reduce with MAX: the elementwise maximum of every rank's input pattern.
TOY_MAX = Collective(
    name="toy_max",
    call=lambda b: b.dist.all_reduce(b.send, op=b.dist.ReduceOp.MAX, group=b.pg),
    expected=lambda b: torch.stack([b.pattern(r, 0, b.count) for r in range(b.n)]).amax(0),
    busbw=lambda n: 2.0 * (n - 1) / n,
    redop="max",
)
# The same call with a wrong closed form: the check must count every element wrong.
TOY_WRONG = Collective(
    name="toy_wrong",
    call=TOY_MAX.call,
    expected=lambda b: torch.stack([b.pattern(r, 0, b.count) for r in range(b.n)]).amax(0) + 1,
    busbw=lambda n: 2.0 * (n - 1) / n,
    redop="max",
)


def test_a_registered_collective_is_planned_run_checked_and_summarized(ray_local, tmp_path):
    out = tmp_path / "run"
    with ops.OPS.added(TOY_MAX), ops.OPS.added(TOY_WRONG):
        r = invoke("run", "--gpus", "1,2", "--workloads", "collectives", "--ops",
                   "toy_max,toy_wrong", "-b", "1K", "-e", "4K", "-w", "1", "-n", "3",
                   "-r", "2", "--out", out, "--json")  # fmt: skip
        assert "toy_max" in invoke("run", "--help").output  # --help lists it too
    assert r.exit_code == 1, r.output  # toy_wrong's closed form is wrong on purpose
    assert "correctness check failed" in r.stderr
    assert "│ max   │" in r.stderr or " max " in r.stderr  # the redop label, from the record
    s = pd.read_csv(out / "summary.csv")
    assert set(s.op) == {"toy_max", "toy_wrong"} and set(s.world_size) == {1, 2}
    good, bad = s[s.op == "toy_max"], s[s.op == "toy_wrong"]
    assert (good.wrong == 0).all()
    # every element of every rank differs from the wrong closed form
    assert (bad.wrong == bad["count"] * bad.world_size).all()
    two = good[good.world_size == 2].iloc[0]
    assert two.busbw_gbps == pytest.approx(two.algbw_gbps * 1.0)  # the record's 2(n-1)/n at n=2
    assert good[good.world_size == 1].busbw_gbps.isna().all()
    assert json.loads(r.stdout)["status"] == "ok"
    assert "toy_max" not in ops.names()  # gone again


@dataclass
class ToyConfig:
    """A toy workload: each rank all-reduces its rank number."""

    repeats: int = 2
    """Timed all-reduces per point."""


def toy_plan(cfg, n: int) -> list[dict]:
    return [{"workload": "toy", "world_size": n, "repeats": cfg.toy.repeats}]


def _toy_rank():
    # Defined inside a function so that Ray ships it by value: the ranks cannot import this
    # test module (a workload in a package would name its rank side "module:function").
    def toy_rank(spec: dict) -> dict:
        import torch.distributed as dist

        times, total = [], None
        for _ in range(spec["repeats"]):
            t = torch.tensor([float(dist.get_rank())])
            start = time.perf_counter()
            dist.all_reduce(t)
            times.append(time.perf_counter() - start)
            total = float(t.item())
        return {"times": times, "sum": total}

    return toy_rank


def toy_records(point: dict, group, results: list[dict]) -> list[dict]:
    return [
        {"type": "toy", "workload": "toy", "world_size": point["world_size"], "rank": rank,
         "iter": i, "time_s": t, "sum": res["sum"]}
        for rank, res in enumerate(results)
        for i, t in enumerate(res["times"])
    ]  # fmt: skip


TOY_COLUMNS = ["world_size", "ranks", "sum", "time_max_s"]


def toy_summary(samples: pd.DataFrame, manifest: dict | None = None) -> pd.DataFrame:
    toy = samples[samples["type"] == "toy"] if "type" in samples else samples.iloc[0:0]
    if toy.empty:
        return pd.DataFrame(columns=TOY_COLUMNS)
    g = toy.groupby("world_size")
    table = pd.DataFrame(
        {"ranks": g["rank"].nunique(), "sum": g["sum"].max(), "time_max_s": g["time_s"].max()}
    )
    return table.reset_index()[TOY_COLUMNS]


TOY = Workload(
    name="toy",
    plan=toy_plan,
    rank=_toy_rank(),
    records=toy_records,
    table=Table("toy", "toy.csv", toy_summary, tuple(TOY_COLUMNS)),
    section=ToyConfig,
    default=False,
)


def test_a_registered_workload_runs_end_to_end(ray_local, tmp_path):
    config = tmp_path / "toy.toml"
    config.write_text("[toy]\nrepeats = 3\n")
    out = tmp_path / "run"
    with WORKLOADS.added(TOY):
        r = invoke("run", "--gpus", "1,2", "--workloads", "toy", "--config", config,
                   "-r", "1", "--out", out)  # fmt: skip
        assert r.exit_code == 0, r.output
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["config"]["toy"] == {"repeats": 3} and manifest["status"] == "ok"
        toy = pd.read_csv(out / "toy.csv")
        # all_reduce of the ranks 0..n-1: n(n-1)/2
        assert toy[["world_size", "ranks", "sum"]].values.tolist() == [[1, 1, 0.0], [2, 2, 1.0]]
        recs = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
        assert len([x for x in recs if x["type"] == "toy"]) == (1 + 2) * 3
        (out / "toy.csv").unlink()
        assert invoke("report", out).exit_code == 0  # the collector writes it again
        assert (out / "toy.csv").exists()
    assert "toy" not in WORKLOADS
    r = invoke("run", "--workloads", "toy", "--out", tmp_path / "gone")
    assert r.exit_code == 2 and "unknown 'toy'" in r.stderr
