"""`scaling predict` on a real CPU run: world sizes 1, 2 and 4 over a 2-node local Ray cluster.

Two raylets (ray.cluster_utils.Cluster) with 2 CPUs each; --placement spread puts world size 2
on both nodes (2 × 1) and 4 as 2 × 2, so two inter-node world sizes exist and the holdout
(predict 4 from 1 and 2) can run on real gloo measurements. The run is small on purpose
(one op, five sizes, few iterations, the tiny transformer for three steps); it is made once.
"""

import json
import math

import pandas as pd
import pytest
from click.testing import CliRunner

from scaling.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.ray_shape("cluster 2,2")]

CONFIG = """
gpus = [1, 2, 4]
repeats = 1
workloads = ["collectives", "transformer"]
[cluster]
placement = "spread"
timeout_s = 180
[collectives]
ops = ["all_reduce"]
min_bytes = "4K"
max_bytes = "1M"
factor = 4
warmup = 1
iters = 5
[training]
warmup = 1
steps = 3
[transformer]
preset = "tiny"
"""


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory, ray_owner):
    root = tmp_path_factory.mktemp("predict")
    (root / "cfg.toml").write_text(CONFIG)
    ray_owner.cluster([2, 2])
    r = CliRunner().invoke(
        main,
        ["run", "--config", str(root / "cfg.toml"), "--out", str(root / "run")],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    return root / "run"


@pytest.fixture(scope="module")
def predicted(cpu_run):
    r = CliRunner().invoke(
        main, ["predict", str(cpu_run), "--gpus", "8,16,64", "--bootstrap", "50"],
        catch_exceptions=False,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return json.loads((cpu_run / "predict.json").read_text()), r.stdout


def test_the_run_spans_two_nodes(predicted):
    doc, _ = predicted
    assert doc["measured_spans"] == {"1": "intra-node", "2": "inter-node", "4": "inter-node"}
    assert doc["gpus_per_node"] == 2
    assert "the largest CPU count of a Ray node" in doc["gpus_per_node_source"]


def test_collective_holdout_predicts_4_ranks_from_2(predicted):
    doc, out = predicted
    (c,) = doc["collectives"]
    inter = c["fits"]["inter-node"]
    assert inter["world_sizes"] == [2, 4]
    h = inter["holdout"]
    assert h["status"] == "validated" and h["held_out_n"] == 4 and h["fitted_on"] == [2]
    assert math.isfinite(h["plateau_error_pct"]) and math.isfinite(h["all_sizes_median_error_pct"])
    assert "holdout: n=4 predicted from n=2" in out
    rows = [r for r in c["predictions"] if r["n"] == 64]
    assert rows and all(r["span"] == "inter-node" and r["time_us"] > 0 for r in rows)


def test_step_holdout_against_the_measured_step(predicted, cpu_run):
    doc, _ = predicted
    (t,) = doc["training"]
    assert t["workload"] == "transformer" and t["buckets"]["note"].endswith("recorded by the run")
    h = t["holdout"]
    assert h["status"] == "validated" and h["held_out_n"] == 4 and h["fitted_on"] == [1, 2]
    measured = pd.read_csv(cpu_run / "training.csv").set_index("world_size").loc[4, "t_ddp_s"]
    assert h["step_measured_s"] == pytest.approx(measured)
    expected = 100 * (h["step_predicted_s"] - measured) / measured
    assert h["step_error_pct"] == pytest.approx(expected)
    for row in t["predictions"]:
        assert row["step_s"] > 0 and row["validation"].startswith("validated: holdout at n=4")
        lo, hi = row["step_s_interval"]
        assert lo <= hi


def test_report_has_the_prediction(cpu_run, predicted):
    md = (cpu_run / "report.md").read_text()
    assert "## Predicted beyond what was measured" in md
    assert "holdout: n=4 predicted from n=1, 2" in md
