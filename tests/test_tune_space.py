"""The [tune] section and the candidates it enumerates, pruned with reasons."""

from __future__ import annotations

import pytest

from scaling.collector.tune.memory import fit_activations
from scaling.collector.tune.nccl_env import DEFAULT_ID, nccl_candidates
from scaling.collector.tune.space import (
    Candidate,
    MemoryContext,
    SpaceContext,
    base_candidate,
    departures,
    enumerate_space,
)
from scaling.config.loader import ConfigError
from scaling.config.tune import (
    TuneConfig,
    parse_duration,
    parse_memory,
    parse_size_range,
)
from scaling.workloads.training.optimizer import OptimizerSpec
from scaling.workloads.training.shapes import resnet_shape, transformer_shape


def read_tune_section(path):
    """The [tune] section as the loader reads a run config file."""
    from scaling.config.loader import load_config

    return load_config(path).tune


RESNET50 = resnet_shape((3, 4, 6, 3), bottleneck=True, name="resnet50")
GPT_1_3B = transformer_shape(n_layer=24, d_model=2048, seq_len=2048, vocab_size=50257, name="1.3b")


def _ctx(device="cpu", world=2, memory=None, **base) -> SpaceContext:
    b = base_candidate(base.pop("batch", 8), base.pop("precision", "fp32"), world, **base)
    return SpaceContext(device, world, b, memory)


# ---------------------------------------------------------------- the [tune] section


def test_tune_section_reads_and_validates(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text(
        'gpus = [1, 2]\n[tune]\nbudget = "10m"\ntarget_memory = "80G"\n'
        'dimensions = ["batch", "bucket_cap_mb"]\nbucket_cap_mb = [5, 25]\nbatches = [8, 16]\n'
    )
    cfg = read_tune_section(p)
    assert cfg.budget == 600.0
    assert cfg.target_memory == parse_memory("80G")
    assert cfg.dimensions == ["batch", "bucket_cap_mb"]
    assert cfg.bucket_cap_mb == [5.0, 25.0] and cfg.batches == [8, 16]


@pytest.mark.parametrize(
    "body, message",
    [
        ("bogus = 1", "unknown config key 'tune.bogus'"),
        ("budget_s = 60", "unknown config key 'tune.budget_s'"),
        ('dimensions = ["batch", "warp_speed"]', "tune.dimensions"),
        ('budget = "soon"', "not a duration"),
        ('precisions = ["fp8"]', "tune.precisions"),
        ("first_steps = 16\nfull_steps = 8", "cannot be longer than the full measurement"),
        ('nccl_size_ranges = ["16M-64K"]', "ends below its start"),
        ("eta = 1", "eta must be >= 2"),
        ("time_goal = 1.5", "tune.time_goal"),
    ],
)
def test_tune_section_rejects_bad_input_in_one_line(tmp_path, body, message):
    p = tmp_path / "t.toml"
    p.write_text(f"[tune]\n{body}\n")
    with pytest.raises(ConfigError, match=message) as e:
        read_tune_section(p)
    assert "\n" not in str(e.value)


def test_parse_duration():
    assert parse_duration("10m") == 600 and parse_duration("90s") == 90
    assert parse_duration("1.5h") == 5400 and parse_duration(30) == 30
    for bad in ("", "0", "-1m", "10 minutes", True):
        with pytest.raises(ValueError):
            parse_duration(bad)


# ---------------------------------------------------------------- enumeration


def test_cpu_default_space_has_no_gpu_precisions_and_no_cross_strategy_options():
    space = enumerate_space(TuneConfig(), _ctx())
    ids = [c.id for c in space.candidates]
    assert len(ids) == len(set(ids))
    assert {c.precision for c in space.candidates} == {"fp32", "bf16"}
    assert {c.batch for c in space.candidates} == {8, 16, 32, 64}
    ddp = [c for c in space.candidates if c.strategy == "ddp"]
    fsdp = [c for c in space.candidates if c.strategy == "fsdp2"]
    assert all(c.reshard_after_forward is None for c in ddp)
    assert all(c.bucket_cap_mb is None for c in fsdp)
    # 4 batches x 2 precisions x (6 bucket sizes x 2 views + 2 reshard settings)
    assert len(ids) == 4 * 2 * (6 * 2 + 2)
    assert space.candidates[0] == _ctx().base  # the run config's own settings first
    assert [departures(c, _ctx().base) for c in space.candidates] == sorted(
        departures(c, _ctx().base) for c in space.candidates
    )


def test_gpu_auto_precisions():
    space = enumerate_space(TuneConfig(dimensions=["precision"]), _ctx("cuda", 8))
    assert [c.precision for c in space.candidates] == ["fp32", "bf16", "fp16", "tf32"]


def test_a_dimension_switched_off_keeps_the_base_value():
    cfg = TuneConfig(dimensions=["bucket_cap_mb"])
    space = enumerate_space(cfg, _ctx(batch=24, precision="bf16", gradient_as_bucket_view=True))
    assert len(space.candidates) == 6
    assert {(c.batch, c.precision, c.gradient_as_bucket_view) for c in space.candidates} == {
        (24, "bf16", True)
    }
    assert {c.bucket_cap_mb for c in space.candidates} == {1, 5, 25, 50, 100, 200}


def test_one_rank_collapses_strategy_options():
    cfg = TuneConfig(dimensions=["strategy", "bucket_cap_mb", "gradient_as_bucket_view"])
    space = enumerate_space(cfg, _ctx(world=1))
    assert [c.id for c in space.candidates] == ["b8-fp32-single"]


def test_device_rules_prune_with_reasons():
    cfg = TuneConfig(
        dimensions=["precision", "compile", "nccl"],
        precisions=["fp32", "fp16", "tf32"],
        nccl_algo=["Tree"],
        nccl_proto=[],
    )
    space = enumerate_space(cfg, _ctx())
    assert [c.id for c in space.candidates] == ["b8-fp32-ddp-bk25"]
    reasons = {c.id: r for c, r in space.pruned}
    assert reasons["b8-fp16-ddp-bk25"].startswith("device: fp16 is a GPU precision")
    assert reasons["b8-tf32-ddp-bk25"].startswith("device: tf32 is a GPU precision")
    assert reasons["b8-fp32-ddp-bk25-compile"] == "device: torch.compile is tuned on GPU only"
    assert "gloo" in reasons["b8-fp32-ddp-bk25-nccl:ALGO=Tree"]


def test_checkpointing_beyond_the_models_blocks_is_inapplicable():
    memory = MemoryContext(RESNET50, OptimizerSpec("sgd"), parse_memory("80G"), "test")
    cfg = TuneConfig(dimensions=["activation_checkpointing"], activation_checkpointing=[0, 4, 32])
    space = enumerate_space(cfg, _ctx("cuda", 8, memory=memory))
    assert [c.activation_checkpointing for c in space.candidates] == [0, 4]
    (c, reason), *_ = space.pruned
    assert c.activation_checkpointing == 32 and "has 16" in reason


def test_memory_prunes_what_cannot_fit_and_keeps_what_can():
    """1.3B params with AdamW: DDP holds 20 B per param (24.5 GiB) on every rank; FSDP2 over 8
    ranks holds 2.5 B per param plus what it gathers. A 16 GiB target: only FSDP2 fits."""
    memory = MemoryContext(
        GPT_1_3B, OptimizerSpec("adamw", impl="fused"), parse_memory("16G"), "--target-memory 16G"
    )
    cfg = TuneConfig(dimensions=["strategy"])
    space = enumerate_space(cfg, _ctx("cuda", 8, memory=memory, batch=4, precision="bf16"))
    assert [c.strategy for c in space.candidates] == ["fsdp2"]
    (pruned, reason), *rest = space.pruned
    assert not rest and pruned.strategy == "ddp"
    assert reason.startswith("memory: needs at least") and "16.00 GiB" in reason
    est = space.estimates[space.candidates[0].id]
    assert est.basis.startswith("static only")  # activations not measured: a lower bound


def test_measured_activations_prune_the_batches_too_large():
    """Activations measured for fp32 prune fp32's large batches; bf16, unmeasured, is only
    checked against its static lower bound and kept."""
    shape, opt = RESNET50, OptimizerSpec("sgd", impl="foreach")
    fit = fit_activations((8, 16), (2 << 30, 2 << 30 | 1 << 29), "cuda", 1 << 30)  # 64 MiB/sample
    memory = MemoryContext(shape, opt, parse_memory("8G"), "test", fits={("fp32", 0, False): fit})
    cfg = TuneConfig(dimensions=["batch", "precision"], batches=[8, 64, 256])
    space = enumerate_space(cfg, _ctx("cuda", 8, memory=memory, precision="fp32"))
    kept = {(c.batch, c.precision) for c in space.candidates}
    assert (8, "fp32") in kept and (64, "fp32") in kept and (256, "fp32") not in kept
    assert (256, "bf16") in kept
    assert all(r.startswith("memory: needs ") for _, r in space.pruned)


def test_candidate_settings_leave_out_what_does_not_apply():
    c = Candidate(batch=8, precision="bf16", strategy="fsdp2", reshard_after_forward=False)
    assert c.settings() == {
        "batch": 8,
        "precision": "bf16",
        "strategy": "fsdp2",
        "reshard_after_forward": False,
        "activation_checkpointing": 0,
        "compile": False,
    }
    assert c.id == "b8-bf16-fsdp2-keep"


# ---------------------------------------------------------------- NCCL candidates


def test_nccl_candidates_start_with_the_defaults_and_combine():
    cands = nccl_candidates(["Ring", "Tree"], ["LL128"], channels=[4])
    assert cands[0].id == DEFAULT_ID and cands[0].env == ()
    assert len(cands) == 3 * 2 * 2
    envs = [dict(c.env) for c in cands]
    assert {"NCCL_ALGO": "Tree", "NCCL_PROTO": "LL128"} in envs
    assert {"NCCL_MIN_NCHANNELS": "4", "NCCL_MAX_NCHANNELS": "4"} in envs


def test_size_ranges():
    r = parse_size_range("64K-16M")
    assert (r.lo, r.hi, r.label) == (65536, 16 << 20, "64K-16M")
    assert 1 << 20 in r and 1024 not in r


def test_the_shipped_tune_config_loads_and_enumerates_a_gpu_space():
    from scaling.config.loader import load_config

    cfg = load_config("configs/tune.toml")
    base = base_candidate(8, "bf16", 8)
    space = enumerate_space(cfg.tune, SpaceContext("cuda", 8, base))
    strategies = {c.strategy for c in space.candidates}
    assert strategies == {"ddp", "fsdp2"} and len(space.candidates) >= 32
    assert cfg.tune.budget == 1200.0 and not space.pruned  # nothing GPU-only on a GPU
