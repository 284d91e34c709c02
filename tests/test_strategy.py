"""The DDP / FSDP2 strategy switch, activation checkpointing and their flags, end to end:
`scaling run` on real Ray actors and gloo groups, tiny presets, a few steps."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from scaling.cli import main
from scaling.collector.training import TRAINING_COLUMNS

pytestmark = pytest.mark.ray_shape("local2")  # the module fixture `runs` starts it

QUICK = """
repeats = 1
[training]
warmup = 1
steps = 2
[resnet50]
preset = "tiny"
batch = 4
[transformer]
preset = "tiny"
"""
# What a strategy must not change: the throughput figures, and their being measured.
FIGURES = ["step_time_p50_s", "t_ddp_s", "t_local_s", "t_comm_s", "samples_per_s"]
FIGURES += ["samples_per_s_per_gpu", "flops_per_step", "peak_mem_bytes_max"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def train_points(out) -> pd.DataFrame:
    lines = (out / "samples.jsonl").read_text().splitlines()
    return pd.DataFrame([r for r in map(json.loads, lines) if r["type"] == "train_point"])


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "quick.toml"
    path.write_text(QUICK)
    return path


@pytest.fixture(scope="module")
def runs(quick, tmp_path_factory, ray_owner):
    """One run per strategy, both workloads at 2 ranks, on one Ray instance."""
    ray_owner.local(2)
    out = {}
    for name in ("ddp", "fsdp2"):
        path = tmp_path_factory.mktemp(name) / "run"
        r = invoke(
            "run", "--gpus", "2", "--workloads", "transformer,resnet50", "--config", quick,
            "--strategy", name, "--out", path,
        )  # fmt: skip
        out[name] = (r, path)
    return out


def test_blocks_are_the_repeated_units_of_each_model():
    import torch
    from torch import nn

    from scaling.workloads.models import build_model, transformer_config
    from scaling.workloads.models.resnet import resnet18
    from scaling.workloads.training.blocks import checkpoint_every, find_blocks

    with torch.device("meta"):
        gpt = build_model("transformer", cfg=transformer_config("tiny", n_layer=5))
        assert [type(b).__name__ for b in find_blocks(gpt)] == ["Block"] * 5
        assert [type(b).__name__ for b in find_blocks(build_model("resnet50"))] == [
            "Bottleneck"
        ] * 16  # 3 + 4 + 6 + 3
        assert len(find_blocks(resnet18())) == 8
        # Another model: the children of a container that repeats one class.
        mlp = nn.Sequential(nn.Linear(4, 8), nn.ModuleList(nn.Linear(8, 8) for _ in range(3)))
        assert find_blocks(mlp) == list(mlp[1])
    assert checkpoint_every(find_blocks(gpt), 2) == 2  # blocks 2 and 4 of 5
    assert checkpoint_every(find_blocks(gpt), 0) == 0


def test_one_rank_trains_the_bare_model_under_fsdp2():
    from scaling.workloads.models import build_model, transformer_config
    from scaling.workloads.training.strategy import make

    model = build_model("transformer", cfg=transformer_config("tiny"))
    s = make({"strategy": "fsdp2", "activation_checkpointing": 1}, "cpu", 1, "fp32")
    assert s.wrap(model) is model
    assert not any(hasattr(p, "full_tensor") for p in model.parameters())  # not sharded
    assert s.facts() == {"ddp": False, "sharded": False, "blocks": 2, "checkpointed_blocks": 2}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--strategy", "zero3"], "'zero3' is not one of ddp, fsdp2"),
        (["--activation-checkpointing", "-1"], "expected a non-negative integer"),
    ],
)
def test_bad_strategy_settings_are_one_line_exit_2_before_ray(args, needle, tmp_path):
    # An unreachable address: had Ray been contacted first, that would be the error.
    r = invoke("run", *args, "--address", "127.0.0.1:1", "--out", tmp_path / "r")
    assert r.exit_code == 2, r.output
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_ddp_and_fsdp2_both_train_with_the_same_figures(runs):
    tables = {}
    for name, (r, out) in runs.items():
        assert r.exit_code == 0, f"{name}: {r.output}"
        t = pd.read_csv(out / "training.csv")
        assert list(t.columns) == TRAINING_COLUMNS
        assert sorted(t.workload) == ["resnet50", "transformer"]
        assert (t.status == "ok").all() and t.consistent.all(), name
        for col in FIGURES:
            assert (t[col] > 0).all(), f"{name}: {col} = {list(t[col])}"
        assert (t[t.workload == "transformer"].tokens_per_s > 0).all()
        tables[name] = t.set_index("workload")
    ddp, fsdp2 = tables["ddp"], tables["fsdp2"]
    # Same model, same batch, same FLOPs: only the parallel wrapping differs.
    assert (ddp.flops_per_step == fsdp2.flops_per_step).all()
    assert (ddp.global_batch == fsdp2.global_batch).all()


@pytest.mark.slow
def test_the_strategy_and_its_communication_are_recorded(runs):
    pts = {name: train_points(out) for name, (_, out) in runs.items()}
    for name, p in pts.items():
        assert (p.strategy == name).all() and len(p) == 4  # 2 workloads x 2 ranks
        # Every rank ends with the same parameters (FSDP2: gathered whole for the checksum).
        assert (p.groupby("workload").checksum_bits.nunique() == 1).all(), name
    ddp, fsdp2 = pts["ddp"], pts["fsdp2"]
    assert ddp.ddp.all() and (ddp.bucket_bytes.map(sum) > 0).all()
    assert fsdp2.sharded.all() and not fsdp2.ddp.any()
    gpt = fsdp2[fsdp2.workload == "transformer"].iloc[0]
    layers = int(gpt.n_layer)
    units = 1 + layers  # the root, then each block
    assert gpt.blocks == layers and gpt.checkpointed_blocks == 0
    # fp32 and even dims (no padding): the forward all-gathers, one per unit, gather the
    # whole model, as the reduce-scatters do its gradients; the blocks gather again in
    # backward (reshard_after_forward).
    assert sum(gpt.all_gather_bytes[:units]) == gpt.params * 4
    assert len(gpt.all_gather_bytes) == units + layers
    assert sum(gpt.reduce_scatter_bytes) == gpt.params * 4
    resnet = fsdp2[fsdp2.workload == "resnet50"].iloc[0]
    assert resnet.blocks == 16 and resnet.contiguous_params > 0  # channels_last weights


@pytest.mark.slow
def test_activation_checkpointing_with_fsdp2_kept_gathered(runs, quick, tmp_path):
    out = tmp_path / "run"
    r = invoke(
        "run", "--gpus", "2", "--workloads", "transformer", "--config", quick,
        "--strategy", "fsdp2", "--activation-checkpointing", "1",
        "--no-reshard-after-forward", "--out", out,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    t = pd.read_csv(out / "training.csv")
    assert (t.status == "ok").all() and t.consistent.all() and (t.samples_per_s > 0).all()
    p = train_points(out).iloc[0]
    assert p.activation_checkpointing == 1 and p.checkpointed_blocks == p.n_layer
    assert not p.reshard_after_forward
    assert len(p.all_gather_bytes) == 1 + int(p.n_layer)  # no second gather in backward


@pytest.mark.slow
def test_activation_checkpointing_with_ddp(runs, quick, tmp_path):
    out = tmp_path / "run"
    r = invoke(
        "run", "--gpus", "2", "--workloads", "transformer", "--config", quick,
        "--activation-checkpointing", "2", "--out", out,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert pd.read_csv(out / "training.csv").consistent.all()
    p = train_points(out).iloc[0]
    assert p.strategy == "ddp" and p.checkpointed_blocks == p.n_layer // 2
