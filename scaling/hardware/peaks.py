"""Peak dense FLOP/s by GPU name and precision: the denominator of MFU.

A table, not a constant: each row is a regular expression searched (case-insensitively) in
the name NVML or `torch.cuda.get_device_name()` reports, and the vendor's dense figure per
precision. NVIDIA datasheets print tensor-core figures "with sparsity" (2:4 structured); the
dense figure, which is what a training step can reach, is half of that.

Precisions mean what the training workload's `--precision` means:

- fp32: plain FP32 on CUDA cores (TF32 disabled).
- tf32: FP32 matmuls on tensor cores in TF32.
- bf16 / fp16: autocast; tensor cores with FP32 accumulation.

A precision missing from a row (bf16 on a V100, which has no bf16 tensor cores) and any name
that matches no row (a CPU, an unlisted GPU) give None, reported as "n/a". Figures are only
listed where the dense value is unambiguous; an MFU against a guessed peak is worse than none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

PRECISIONS = ("fp32", "tf32", "bf16", "fp16")


@dataclass(frozen=True)
class PeakRow:
    pattern: str
    """Regular expression searched in the device name; the first matching row wins."""
    label: str
    """What the row describes, for reports ("peak of H100 SXM")."""
    flops: Mapping[str, float] = field(default_factory=dict)
    """Dense FLOP/s per precision. Empty means: known device, no trustworthy figure."""


def _tensor_core(
    fp32: float, tf32: float | None, half: float, bf16: bool = True
) -> Mapping[str, float]:
    """A row's figures: `half` is the dense FP16 figure, which BF16 shares where it exists."""
    flops = {"fp32": fp32, "fp16": half}
    if tf32 is not None:
        flops["tf32"] = tf32
    if bf16:
        flops["bf16"] = half
    return MappingProxyType(flops)  # read-only: rows share these


# NVIDIA H100 datasheet, SXM column: FP32 67, TF32 989*, BF16/FP16 1,979* (*sparse).
# The H200 datasheet's SXM column has the same GH100 compute (it differs in memory).
_HOPPER_SXM = _tensor_core(67e12, 494.5e12, 989e12)

# Order matters: the first match wins, so variants sharing a chip name come before the
# general pattern. Real names: "NVIDIA H100 80GB HBM3" (SXM5), "NVIDIA H100 PCIe",
# "NVIDIA H100 NVL", "NVIDIA H200", "NVIDIA H200 NVL", "NVIDIA A100-SXM4-80GB",
# "NVIDIA A100 80GB PCIe", "NVIDIA A10", "NVIDIA A10G", "Tesla V100-SXM2-16GB",
# "Tesla V100-PCIE-32GB", "Tesla V100S-PCIE-32GB", "NVIDIA L40S", "NVIDIA GeForce RTX 4090".
PEAKS: tuple[PeakRow, ...] = (
    # H100 NVL and H200 NVL: PCIe cards at lower power and clocks than SXM. Published figures
    # were given per card pair and later per card, so they are left unknown here rather than
    # falling through to the SXM rows below.
    PeakRow(r"\bH[12]00 NVL\b", "H100/H200 NVL (peak unknown)"),
    # NVIDIA H100 datasheet, PCIe column: FP32 51, TF32 756*, BF16/FP16 1,513* (*sparse).
    PeakRow(r"\bH100\b.*\bPCIe\b", "H100 PCIe", _tensor_core(51e12, 378e12, 756e12)),
    # The SXM5 part reports itself as "H100 80GB HBM3" (PCIe uses HBM2e).
    PeakRow(r"\bH100\b.*\b(SXM|HBM3)", "H100 SXM", _HOPPER_SXM),
    # \b keeps GH200 (Grace Hopper) out.
    PeakRow(r"\bH200\b", "H200 SXM", _HOPPER_SXM),
    # NVIDIA HGX B200 datasheet, per GPU: FP32 75, BF16/FP16 4.5 P* (*sparse). TF32 is left
    # out: the per-GPU (2.2 P*) and 8-GPU (18 P*) figures disagree. \b keeps GB200 out.
    PeakRow(r"\bB200\b", "B200 (HGX)", _tensor_core(75e12, None, 2.25e15)),
    # NVIDIA A100 datasheet: FP32 19.5, TF32 156, BF16/FP16 312 dense; the same for 40/80 GB,
    # SXM4 and PCIe.
    PeakRow(r"\bA100\b", "A100", _tensor_core(19.5e12, 156e12, 312e12)),
    # NVIDIA A10 datasheet: FP32 31.2, TF32 62.5, BF16/FP16 125 dense. \b keeps A100 and the
    # A10G (AWS's different part) out.
    PeakRow(r"\bA10\b", "A10", _tensor_core(31.2e12, 62.5e12, 125e12)),
    # NVIDIA L40S datasheet: FP32 91.6, TF32 183, BF16/FP16 362.05 dense.
    PeakRow(r"\bL40S\b", "L40S", _tensor_core(91.6e12, 183e12, 362.05e12)),
    # NVIDIA Ada Lovelace architecture whitepaper, appendix, RTX 4090: FP32 82.6, TF32 82.6,
    # BF16 and FP16 with FP32 accumulate 165.2 dense (FP16 accumulate would be 330.3; autocast
    # accumulates in FP32). Anchored at the end: "RTX 4090 D" and laptop parts differ.
    PeakRow(r"\bRTX 4090$", "GeForce RTX 4090", _tensor_core(82.6e12, 82.6e12, 165.2e12)),
    # NVIDIA V100 datasheet: SXM2 FP32 15.7, tensor (FP16) 125; PCIe 14 and 112; V100S PCIe
    # 16.4 and 130. Volta has neither TF32 nor BF16 tensor cores.
    PeakRow(r"\bV100S\b", "V100S PCIe", _tensor_core(16.4e12, None, 130e12, bf16=False)),
    PeakRow(r"\bV100-SXM2\b", "V100 SXM2", _tensor_core(15.7e12, None, 125e12, bf16=False)),
    PeakRow(r"\bV100-PCIE\b", "V100 PCIe", _tensor_core(14e12, None, 112e12, bf16=False)),
)


def match_device(device_name: str | None) -> PeakRow | None:
    """The first row whose pattern occurs in the name, or None."""
    if not device_name:
        return None
    name = " ".join(device_name.split())  # NVML names can carry stray spaces
    for row in PEAKS:
        if re.search(row.pattern, name, flags=re.IGNORECASE):
            return row
    return None


def peak_flops(device_name: str | None, precision: str) -> float | None:
    """Peak dense FLOP/s of the device at that precision; None where it is not known.

    >>> peak_flops("NVIDIA H100 80GB HBM3", "bf16")
    989000000000000.0
    >>> peak_flops("cpu", "fp32") is None
    True
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    row = match_device(device_name)
    return None if row is None else row.flops.get(precision)
