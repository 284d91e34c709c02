"""Peak dense FLOP/s lookup, matched against device names as NVML/torch report them."""

from __future__ import annotations

import pytest

from scaling.hardware.peaks import PEAKS, PRECISIONS, match_device, peak_flops


@pytest.mark.parametrize(
    "name, precision, expected",
    [
        ("NVIDIA H100 80GB HBM3", "bf16", 989e12),  # SXM5
        ("NVIDIA H100 80GB HBM3", "fp16", 989e12),
        ("NVIDIA H100 80GB HBM3", "tf32", 494.5e12),
        ("NVIDIA H100 80GB HBM3", "fp32", 67e12),
        ("NVIDIA H100 PCIe", "bf16", 756e12),
        ("NVIDIA H200", "bf16", 989e12),
        ("NVIDIA A100-SXM4-80GB", "bf16", 312e12),
        ("NVIDIA A100-SXM4-40GB", "tf32", 156e12),
        ("NVIDIA A100-PCIE-40GB", "fp32", 19.5e12),
        ("NVIDIA A100 80GB PCIe", "fp16", 312e12),
        ("Tesla V100-SXM2-16GB", "fp16", 125e12),
        ("Tesla V100-SXM2-32GB", "fp32", 15.7e12),
        ("Tesla V100-PCIE-16GB", "fp16", 112e12),
        ("Tesla V100S-PCIE-32GB", "fp16", 130e12),
        ("NVIDIA A10", "bf16", 125e12),
        ("NVIDIA L40S", "bf16", 362.05e12),
        ("NVIDIA GeForce RTX 4090", "bf16", 165.2e12),
        ("NVIDIA B200", "bf16", 2.25e15),
        ("nvidia h100 pcie", "bf16", 756e12),  # case does not matter
        ("NVIDIA  H100  PCIe ", "bf16", 756e12),  # nor stray spaces
    ],
)
def test_known_devices(name, precision, expected):
    assert peak_flops(name, precision) == expected


@pytest.mark.parametrize(
    "name",
    [
        None,
        "",
        "cpu",
        "Intel(R) Xeon(R) Platinum 8480+",
        "NVIDIA H100 NVL",  # not the SXM figure: lower clocks and power
        "NVIDIA H200 NVL",
        "NVIDIA GH200 480GB",  # not an H200
        "NVIDIA GB200",  # not a B200
        "NVIDIA A10G",  # not an A10
        "NVIDIA L40",  # not an L40S
        "NVIDIA GeForce RTX 4090 D",  # cut-down 4090
        "NVIDIA GeForce RTX 3090",
    ],
)
def test_unknown_or_ambiguous_devices_give_none(name):
    for precision in PRECISIONS:
        assert peak_flops(name, precision) is None


def test_a100_is_not_matched_as_a10_or_the_other_way():
    assert match_device("NVIDIA A100-SXM4-80GB").label == "A100"
    assert match_device("NVIDIA A10").label == "A10"


def test_h100_variants_resolve_to_their_own_rows():
    assert match_device("NVIDIA H100 80GB HBM3").label == "H100 SXM"
    assert match_device("NVIDIA H100 PCIe").label == "H100 PCIe"
    assert match_device("NVIDIA H100 NVL").flops == {}


def test_precision_a_device_lacks_is_none():
    assert peak_flops("Tesla V100-SXM2-16GB", "bf16") is None
    assert peak_flops("Tesla V100-SXM2-16GB", "tf32") is None


def test_unknown_precision_is_an_error():
    with pytest.raises(ValueError, match="unknown precision"):
        peak_flops("NVIDIA H100 80GB HBM3", "fp8")


@pytest.mark.parametrize("row", PEAKS, ids=lambda r: r.label)
def test_rows_are_dense_and_ordered(row):
    # Catches a sparse figure typed by mistake: dense tensor-core throughput doubles from TF32
    # to BF16/FP16, and TF32 never falls below plain FP32. 5% slack: datasheets round their
    # own figures differently (L40S: TF32 183, BF16 362.05).
    assert set(row.flops) <= set(PRECISIONS)
    f = row.flops
    if "bf16" in f and "fp16" in f:
        assert f["bf16"] == f["fp16"]
    if "tf32" in f and "bf16" in f:
        assert f["bf16"] == pytest.approx(2 * f["tf32"], rel=0.05)
    if "tf32" in f and "fp32" in f:
        assert f["tf32"] >= f["fp32"]
