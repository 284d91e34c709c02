"""The memory model against hand counts, and the model's shapes against the torch models."""

from __future__ import annotations

import pytest
import torch

from scaling.collector.tune.memory import (
    GIB,
    MIB,
    Sharding,
    buckets,
    check_fit,
    estimate,
    fit_activations,
    forward_static,
    largest_batch,
    static_peak,
    static_terms,
)
from scaling.config.tune import parse_memory
from scaling.workloads.models.gpt import GPT, PRESETS
from scaling.workloads.models.resnet import DEPTHS, Bottleneck, build_resnet
from scaling.workloads.training.optimizer import OptimizerSpec, default_impl
from scaling.workloads.training.shapes import resnet_shape, transformer_shape_of

RESNET50 = resnet_shape(DEPTHS["resnet50"][1], bottleneck=True, name="resnet50")
P50 = 25_557_032  # torchvision's ResNet-50, and README
TINY = transformer_shape_of(PRESETS["tiny"], "transformer tiny")


def _terms(shape, opt, precision, sharding) -> dict[str, int]:
    return {t.name: t.bytes for t in static_terms(shape, opt, precision, sharding)}


# ---------------------------------------------------------------- shapes vs torch


@pytest.mark.parametrize("name", sorted(DEPTHS))
def test_resnet_shapes_match_the_torch_models(name):
    block, per_stage = DEPTHS[name]
    shape = resnet_shape(per_stage, bottleneck=block is Bottleneck)
    with torch.device("meta"):
        model = build_resnet(name)
    params = list(model.parameters())
    assert shape.params == sum(p.numel() for p in params)
    stages = (model.layer1, model.layer2, model.layer3, model.layer4)
    assert list(shape.units) == [sum(p.numel() for p in b.parameters()) for s in stages for b in s]
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    fc = sum(p.numel() for p in model.fc.parameters())
    assert shape.autocast == sum(m.weight.numel() for m in convs) + fc
    assert shape.largest == max(p.numel() for p in params)
    assert shape.buffers == sum(b.numel() for b in model.buffers() if b.is_floating_point())


def test_resnet50_parameter_count_is_torchvisions():
    assert RESNET50.params == P50
    assert RESNET50.blocks == 16


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_transformer_shapes_match_the_torch_models(preset):
    cfg = PRESETS[preset]
    shape = transformer_shape_of(cfg)
    with torch.device("meta"):
        model = GPT(cfg)
    assert shape.params == model.num_params()
    assert list(shape.units) == [sum(p.numel() for p in b.parameters()) for b in model.blocks]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert shape.autocast == sum(p.numel() for m in linears for p in m.parameters())
    assert shape.largest == max(p.numel() for p in model.parameters())


def test_transformer_hand_count_of_the_tiny_preset():
    # V d + T d + L (12 d^2 + 13 d) + 2 d, with d 128, L 2, T 128, V 1024
    assert TINY.params == 1024 * 128 + 128 * 128 + 2 * (12 * 128**2 + 13 * 128) + 2 * 128
    assert TINY.params == 544_256


# ---------------------------------------------------------------- static bytes, by hand


def test_resnet50_sgd_fp32_ddp_bytes_by_hand():
    sgd = OptimizerSpec("sgd", impl="foreach", momentum=True, weight_decay=True)
    t = _terms(RESNET50, sgd, "fp32", Sharding("ddp", 8))
    assert t["params"] == P50 * 4 == 102_228_128
    assert t["grads"] == P50 * 4
    assert t["DDP buckets"] == P50 * 4
    assert t["optimizer states"] == P50 * 4  # one momentum buffer
    assert t["buffers"] == 53_120 * 4  # BatchNorm running mean and var
    assert t["optimizer temporaries"] == P50 * 4  # foreach: grad + wd * param, a new list
    # persistent 4 x 102,228,128 + buffers, plus the larger moment: the optimizer's temporary
    assert static_peak(RESNET50, sgd, "fp32", Sharding("ddp", 8)) == 5 * P50 * 4 + 53_120 * 4


def test_gradient_as_bucket_view_saves_one_gradient_copy():
    sgd = OptimizerSpec("sgd", impl="fused")
    plain = static_peak(RESNET50, sgd, "fp32", Sharding("ddp", 2))
    view = static_peak(RESNET50, sgd, "fp32", Sharding("ddp", 2, gradient_as_bucket_view=True))
    assert plain - view == P50 * 4


def test_bucket_cap_changes_the_count_of_buckets_not_their_total():
    sgd = OptimizerSpec("sgd", impl="fused")
    small = _terms(RESNET50, sgd, "fp32", Sharding("ddp", 2, bucket_cap_mb=1))
    large = _terms(RESNET50, sgd, "fp32", Sharding("ddp", 2, bucket_cap_mb=200))
    assert small == large
    assert buckets(P50 * 4, 25) == 1 + -(-(P50 * 4 - MIB) // (25 * MIB)) == 5
    assert buckets(P50 * 4, 1) == 98


def test_one_rank_has_no_buckets():
    t = _terms(RESNET50, OptimizerSpec("sgd", impl="for-loop"), "fp32", Sharding("single"))
    assert "DDP buckets" not in t
    # the for-loop SGD (the CPU default) allocates one temporary as large as the largest tensor
    assert t["optimizer temporaries"] == RESNET50.largest * 4 == 2_359_296 * 4


def test_adamw_on_the_tiny_transformer_by_hand():
    adamw = OptimizerSpec("adamw", impl="fused")
    t = _terms(TINY, adamw, "fp32", Sharding("single"))
    assert t == {
        "params": 544_256 * 4,
        "optimizer states": 2 * 544_256 * 4,  # exp_avg, exp_avg_sq
        "grads": 544_256 * 4,
    }
    foreach = _terms(TINY, OptimizerSpec("adamw", impl="foreach"), "fp32", Sharding("single"))
    assert foreach["optimizer temporaries"] == 544_256 * 4  # sqrt(exp_avg_sq)


def test_autocast_keeps_fp32_masters_and_a_2_byte_copy_of_matmul_weights():
    small = transformer_shape_of(PRESETS["gpt2-small"])
    adamw = OptimizerSpec("adamw", impl="fused")
    t = _terms(small, adamw, "bf16", Sharding("ddp", 8))
    p = 124_439_808
    assert t["params"] == t["grads"] == t["DDP buckets"] == p * 4
    assert t["optimizer states"] == p * 8
    assert t["autocast copies"] == 123_614_976 * 2
    pure = _terms(small, adamw, "pure-bf16", Sharding("ddp", 8))
    assert pure["params"] == pure["grads"] == p * 2 and pure["optimizer states"] == p * 4
    assert "autocast copies" not in pure


def test_fsdp2_divides_by_the_shard_degree_and_keeps_some_unsharded():
    medium = transformer_shape_of(PRESETS["gpt2-medium"])
    p, n = 354_823_168, 8
    adamw = OptimizerSpec("adamw", impl="fused")
    on = _terms(medium, adamw, "bf16", Sharding("fsdp2", n, param_dtype="bf16"))
    assert on["params"] == on["grads"] == p // n * 4
    assert on["optimizer states"] == p // n * 8
    block, root = medium.units[0], medium.root
    assert on["FSDP2 unsharded params"] == (root + 2 * block) * 2  # root + in use + prefetched
    assert on["FSDP2 unsharded grads"] == max(block, root) * (2 + 4)  # bf16 grad + fp32 input
    assert "autocast copies" not in on  # the gathered params already are bf16
    off = Sharding("fsdp2", n, reshard_after_forward=False, param_dtype="bf16")
    assert _terms(medium, adamw, "bf16", off)["FSDP2 unsharded params"] == p * 2
    fp32_gather = _terms(medium, adamw, "bf16", Sharding("fsdp2", n, param_dtype=None))
    assert fp32_gather["autocast copies"] == medium.autocast * 2


def test_default_optimizer_impl_follows_torch():
    assert default_impl("cuda") == "foreach"
    assert default_impl("cpu") == "for-loop"  # torch's foreach kernels are CUDA-only
    assert default_impl("cpu", fused=True) == "fused"


# ---------------------------------------------------------------- activations: two batches


def test_two_batch_fit_extrapolates_linearly_and_keeps_the_overhead():
    sgd = OptimizerSpec("sgd", impl="for-loop")
    sharding = Sharding("single")
    static = forward_static(RESNET50, sgd, "fp32", sharding)
    per_sample, process = 3 * MIB, 350 * MIB  # what a CPU process would add (RSS)
    fit = fit_activations(
        (8, 16),
        (static + process + 8 * per_sample, static + process + 16 * per_sample),
        "rss",
        static,
    )
    assert fit.slope == per_sample
    assert fit.overhead == process
    est = estimate(RESNET50, sgd, "fp32", sharding, 256, fit)
    assert est.peak_bytes == static + process + 256 * per_sample
    assert est.term("activations") == 256 * per_sample
    assert est.basis == "measured activations"


def test_fit_carries_to_another_strategy():
    """Activations per rank do not depend on the strategy: measured on one rank, planned for
    FSDP2 at 8, the activation and overhead terms carry and the static terms change."""
    adamw = OptimizerSpec("adamw", impl="fused")
    single = forward_static(TINY, adamw, "fp32", Sharding("single"))
    fit = fit_activations((2, 4), (single + 2 * MIB, single + 4 * MIB), "cuda", single)
    fsdp = Sharding("fsdp2", 8)
    est = estimate(TINY, adamw, "fp32", fsdp, 64, fit)
    assert est.peak_bytes == forward_static(TINY, adamw, "fp32", fsdp) + 64 * MIB


def test_fit_refuses_peaks_that_do_not_grow():
    with pytest.raises(ValueError, match="did not grow"):
        fit_activations((4, 8), (GIB, GIB), "cuda", GIB // 2)
    with pytest.raises(ValueError, match="two different batches"):
        fit_activations((4, 4), (GIB, 2 * GIB), "cuda", 0)


def test_largest_batch_is_the_last_that_fits():
    adamw = OptimizerSpec("adamw", impl="fused")
    s = Sharding("single")
    static = forward_static(TINY, adamw, "fp32", s)
    fit = fit_activations((1, 2), (static + MIB, static + 2 * MIB), "cuda", static)
    cap = int((static + 100 * MIB + MIB // 2) / 0.9)
    b = largest_batch(TINY, adamw, "fp32", s, fit, cap)
    assert b == 100
    assert check_fit(estimate(TINY, adamw, "fp32", s, b, fit), cap).fits
    assert not check_fit(estimate(TINY, adamw, "fp32", s, b + 1, fit), cap).fits


def test_a_config_that_cannot_fit_says_why():
    big = transformer_shape_of(PRESETS["1.3b"])
    est = estimate(big, OptimizerSpec("adamw", impl="fused"), "fp32", Sharding("ddp", 8), 4)
    verdict = check_fit(est, parse_memory("16G"))
    assert not verdict.fits
    assert "needs at least" in verdict.reason  # activations unmeasured: a lower bound
    assert "optimizer states" in verdict.reason and "16.00 GiB" in verdict.reason


def test_parse_memory():
    assert parse_memory("80G") == 80 * GIB
    assert parse_memory("79.6G") == int(79.6 * GIB)
    assert parse_memory("512M") == 512 * MIB
    assert parse_memory("80GiB") == 80 * GIB
    for bad in ("", "80 GB/s", "-1G", "0", "x"):
        with pytest.raises(ValueError):
            parse_memory(bad)
