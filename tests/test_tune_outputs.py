"""What a tune leaves behind: tune.json, the ranked table, best.toml, NCCL lines, the report."""

from __future__ import annotations

import json
import random

import pytest

from scaling.collector.tune.halving import successive_halving
from scaling.collector.tune.halving_types import Schedule, TrialResult
from scaling.collector.tune.judging import judge_label, trial_judge
from scaling.collector.tune.nccl_env import DEFAULT_ID, env_lines, recommend
from scaling.collector.tune.paired import paired_judge
from scaling.collector.tune.result import NCCL_ENV, TUNE_JSON, tune_document
from scaling.collector.tune.space import (
    Candidate,
    MemoryContext,
    SpaceContext,
    base_candidate,
    enumerate_space,
)
from scaling.config.loader import load_config
from scaling.config.tune import TuneConfig, parse_memory
from scaling.report import markdown
from scaling.report import tune as tune_report
from scaling.report.document import Document
from scaling.sinks.tune_files import write_tune
from scaling.tune.best_config import best_toml
from scaling.workloads.training.optimizer import OptimizerSpec
from scaling.workloads.training.shapes import transformer_shape

GPT2_MEDIUM = transformer_shape(n_layer=24, d_model=1024, seq_len=1024, vocab_size=50257)


def _tune(world: int = 8, dims=("batch", "bucket_cap_mb", "strategy"), nccl_true=None):
    """A small GPU-shaped tune on simulated trials: 4 batches x (3 buckets + 2 FSDP2)."""
    cfg = TuneConfig(
        dimensions=list(dims),
        batches=[4, 8, 16, 64],
        bucket_cap_mb=[5.0, 25.0, 100.0],
        nccl_algo=["Tree"],
        nccl_proto=[],
    )
    memory = MemoryContext(
        GPT2_MEDIUM, OptimizerSpec("adamw", impl="fused"), parse_memory("4G"), "--target-memory 4G"
    )
    ctx = SpaceContext("cuda", world, base_candidate(8, "bf16", world), memory)
    space = enumerate_space(cfg, ctx)
    rng = random.Random(0)
    true = {
        c.id: 10.0 * c.batch**0.5 * (1.1 if c.strategy == "fsdp2" else 1.0)
        for c in space.candidates
    }
    true.update(nccl_true or {})

    def trial(cid, budget):
        rounds = [true[cid] * rng.lognormvariate(0, 0.02) for _ in range(budget.rounds)]
        figures = {"peak_mem_bytes": 3 << 30, "exposed_comm_s": 0.004, "mfu": 0.41}
        return TrialResult(rounds, 1.0 + 0.1 * budget.steps * budget.rounds, figures=figures)

    search = successive_halving([c.id for c in space.candidates], trial, Schedule(), 600.0)
    doc = tune_document(search, space, ctx, cfg, {"workload": "transformer", "trials": "simulated"})
    return doc, space, search


def test_tune_json_holds_the_decisions_and_is_plain_json():
    doc, space, search = _tune()
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc
    assert doc["judge"] == (
        f"{judge_label(trial_judge(3.0))} at one-call rungs; "
        f"{judge_label(paired_judge(3.0))} at interleaved rungs"
    )
    assert doc["winner"]["id"] == search.winner
    assert doc["winner"]["confirm"]["rounds"]  # the full-length rerun
    assert len(doc["rungs"]) == len(search.rungs) and doc["rungs"][0]["trials"]
    assert doc["memory"]["capacity_source"] == "--target-memory 4G"
    assert {c["id"] for c in doc["candidates"]} == {c.id for c in space.candidates}


def test_ranked_table_puts_the_winner_first_with_its_rerun_figure():
    doc, _, search = _tune()
    rows = doc["ranking"]
    top = rows[0]
    assert top["id"] == search.winner and top["status"] == "winner"
    assert top["figure_from"] == "full-length rerun"
    assert top["throughput"] == search.confirm.median
    assert top["throughput_per_gpu"] == pytest.approx(top["throughput"] / 8)
    assert top["interval"][0] <= top["throughput"] <= top["interval"][1]
    assert top["mfu"] == 0.41 and top["peak_mem_source"] == "measured"
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    statuses = [r["status"] for r in rows]
    assert statuses.index("eliminated") > statuses.index("winner")


def test_pruned_configs_are_listed_with_their_reason():
    doc, space, _ = _tune()
    assert doc["pruned"], "DDP at batch 64 of gpt2-medium should not fit 4 GiB"
    for p in doc["pruned"]:
        assert p["reason"].startswith("memory: needs at least")
    assert {p["id"] for p in doc["pruned"]} == {c.id for c, _ in space.pruned}


def test_best_toml_round_trips_through_the_run_config_loader(tmp_path):
    base = load_config("configs/quick.toml", {"out": "runs/some-earlier-run"})
    winner = Candidate(
        batch=32,
        precision="bf16",
        strategy="ddp",
        bucket_cap_mb=100.0,
        gradient_as_bucket_view=True,
        static_graph=False,
    )
    text = best_toml(base, winner, "resnet50", 2, header=["scaling tune, 2 ranks"])
    path = tmp_path / "best.toml"
    path.write_text(text)
    cfg = load_config(path)
    assert cfg.gpus == [2] and cfg.workloads == ["resnet50"]
    assert cfg.resnet50.batch == 32 and cfg.resnet50.preset == "tiny"
    t = cfg.training
    assert (t.precision, t.bucket_cap_mb, t.gradient_as_bucket_view, t.static_graph) == (
        "bf16",
        100.0,
        True,
        False,
    )
    assert (t.warmup, t.steps) == (1, 5)  # the base config's own settings are kept
    assert cfg.out is None  # a rerun never writes into an earlier run
    assert "NOT REPRODUCED" not in text


def test_best_toml_writes_every_option_of_the_winner_as_run_config_keys(tmp_path):
    base = load_config()
    winner = Candidate(
        batch=8,
        precision="bf16",
        strategy="fsdp2",
        reshard_after_forward=False,
        fsdp_reduce_dtype="float32",
        activation_checkpointing=2,
        nccl_env=(("NCCL_ALGO", "Tree"),),
    )
    text = best_toml(base, winner, "transformer", 8)
    assert "NOT REPRODUCED" not in text and "debugging variables" in text
    path = tmp_path / "best.toml"
    path.write_text(text)
    cfg = load_config(path)  # a run config that scaling run reads as is
    t = cfg.training
    assert cfg.gpus == [8] and cfg.workloads == ["transformer"] and cfg.transformer.batch == 8
    assert (t.precision, t.strategy, t.reshard_after_forward) == ("bf16", "fsdp2", False)
    assert t.activation_checkpointing == 2 and cfg.cluster.env == {"NCCL_ALGO": "Tree"}


def test_report_section_draws_from_tune_json(tmp_path):
    doc, _, search = _tune()
    write_tune(tmp_path, doc, None)
    section = tune_report.section(tmp_path)
    md = markdown.render(Document("tune", "", None, [section]))
    assert "## Tuned parallel strategy" in md
    assert "| # | candidate | status | samples/s [range]" in md
    assert "| rung | trials | rounds x steps |" in md  # the halving rounds
    assert "Pruned before running" in md and "memory: needs at least" in md
    assert f"Winner {search.winner}" in md and "Mann-Whitney U" in md
    assert "41%" in md  # MFU from the trials' figures


def test_a_broken_tune_json_gives_a_note_not_a_traceback(tmp_path):
    (tmp_path / TUNE_JSON).write_text('{"schema": 1}')
    section = tune_report.section(tmp_path)
    assert "could not be read" in section.blocks[0].text
    assert tune_report.section(tmp_path / "nowhere") is None


def test_outputs_never_overwrite_an_earlier_tune(tmp_path):
    doc, _, _ = _tune()
    written = write_tune(tmp_path, doc, "gpus = [8]\n")
    assert sorted(p.name for p in written) == ["best.toml", "tune.json"]
    with pytest.raises(FileExistsError, match="earlier tune"):
        write_tune(tmp_path, doc, "gpus = [8]\n")


def test_nccl_lines_only_with_evidence_beyond_noise(tmp_path):
    """A winner with NCCL_ALGO=Tree whose twin on NCCL's defaults was worse beyond noise gets
    its lines written; one that merely tied gets none."""
    tree = "b64-bf16-fsdp2-rs-nccl:ALGO=Tree"
    strong, _, _ = _tune(dims=("batch", "strategy", "nccl"), nccl_true={tree: 200.0})
    assert strong["winner"]["id"] == tree
    assert strong["nccl"]["recommended"] and strong["nccl"]["lines"][-1] == "export NCCL_ALGO=Tree"
    write_tune(tmp_path, strong, None)
    assert "export NCCL_ALGO=Tree" in (tmp_path / NCCL_ENV).read_text()
    tied, _, _ = _tune(dims=("batch", "strategy", "nccl"))
    assert tied["nccl"] is None or not tied["nccl"]["recommended"]


def test_nccl_recommendation_per_size_range():
    def rounds(x):
        return [x * (1 + 0.001 * i) for i in range(6)]

    per_range = {
        "1K-64K": {
            DEFAULT_ID: rounds(10),
            "nccl:ALGO=Tree": rounds(14),
            "nccl:PROTO=LL": rounds(9),
        },
        "64K-16M": {
            DEFAULT_ID: rounds(50),
            "nccl:ALGO=Tree": rounds(50.01),
            "nccl:PROTO=LL": rounds(60),
        },
    }
    rec = recommend(per_range, trial_judge(3.0))
    assert rec["recommended"] == "nccl:ALGO=Tree"  # better in one range, worse in none
    assert rec["verdicts"]["1K-64K"]["nccl:PROTO=LL"] == "worse"  # LL loses small messages
    assert "debugging variables" in rec["note"]
    none = recommend(
        {"1K-64K": {DEFAULT_ID: rounds(10), "nccl:PROTO=LL": rounds(10)}}, trial_judge(3.0)
    )
    assert none["recommended"] is None and "beyond noise" in none["reason"]
    assert env_lines((("NCCL_ALGO", "Tree"),))[-1] == "export NCCL_ALGO=Tree"
    assert env_lines(()) == []


def test_the_tune_library_imports_neither_torch_nor_ray():
    """Collector and report layers: pure python, rerunnable on recorded trials anywhere."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import scaling.tune.best_config, scaling.collector.tune.halving\n"
        "import scaling.collector.tune.result, scaling.collector.tune.space\n"
        "import scaling.config.tune, scaling.report.tune\n"
        "print(sorted(m for m in ('torch', 'ray') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
