"""Datasheet device-memory (HBM) bandwidth by GPU name: the physics bar of the memory check.

    from scaling.hardware.hbm import hbm_row
    hbm_row("NVIDIA H100 80GB HBM3")   # HbmRow(label="H100 SXM", gbps=3350.0, source=...)

A table, like peaks.py: each row is a regular expression searched (case-insensitively) in the
name NVML or `torch.cuda.get_device_name()` reports, the vendor's peak in GB/s (1e9 B/s) and
the datasheet it is read from. The peak counts every byte the memory moves, reads and writes
together. A name that matches no row (a CPU, an unlisted GPU, a variant whose figure differs,
such as the A100 80GB PCIe at 1,935 GB/s) gives None: no absolute memory bar, said so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class HbmRow:
    pattern: str
    label: str
    gbps: float
    """Peak memory bandwidth, GB/s, reads and writes counted together."""
    source: str


_H100 = "NVIDIA H100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h100)"
_A100 = "NVIDIA A100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/a100)"
HBM: tuple[HbmRow, ...] = (
    # Real names: "NVIDIA H200" (SXM; "NVIDIA H200 NVL" is another part, 4.8 TB/s as well but
    # left out until its own datasheet is checked), "NVIDIA H100 80GB HBM3" (SXM5),
    # "NVIDIA H100 PCIe", "NVIDIA A100-SXM4-80GB", "NVIDIA A100-SXM4-40GB",
    # "NVIDIA A100-PCIE-40GB", "NVIDIA B200".
    HbmRow(r"\bH200\b(?!.*\bNVL\b)", "H200 SXM", 4800.0,
           "NVIDIA H200 Tensor Core GPU datasheet, H200 SXM: 4.8 TB/s (nvidia.com/en-us/data-center/h200)"),
    HbmRow(r"\bH100\b.*\b(SXM|HBM3)\b", "H100 SXM", 3350.0, f"{_H100}, H100 SXM: 3.35 TB/s"),
    HbmRow(r"\bH100\b.*\bPCIe\b", "H100 PCIe", 2000.0, f"{_H100}, H100 PCIe: 2 TB/s"),
    HbmRow(r"\bA100-SXM4-80GB\b", "A100 80GB SXM", 2039.0, f"{_A100}, A100 80GB SXM: 2,039 GB/s"),
    HbmRow(r"\bA100\b.*\b40GB\b", "A100 40GB", 1555.0, f"{_A100}, A100 40GB: 1,555 GB/s"),
    HbmRow(r"\bB200\b", "B200", 8000.0,
           "NVIDIA DGX B200 datasheet: 64 TB/s HBM3e for 8 GPUs, 8 TB/s each (nvidia.com/en-us/data-center/dgx-b200)"),
)  # fmt: skip


def hbm_row(device_name: str | None) -> HbmRow | None:
    """The first row whose pattern the name matches, or None."""
    if not device_name:
        return None
    name = " ".join(device_name.split())
    return next((r for r in HBM if re.search(r.pattern, name, re.IGNORECASE)), None)
