"""`--device cuda` on a host without GPUs: refused before Ray starts, when Ray would be local.

A local Ray instance offers the GPUs NVML counts here, narrowed by CUDA_VISIBLE_DEVICES (Ray
reads both), so the answer is known before `ray.init` (which takes seconds). With --address or
$RAY_ADDRESS the GPUs are the cluster's, not this host's: that is only known after connecting,
and gang.pick_device refuses it there.
"""

from __future__ import annotations

import os


def check_cuda_here(device: str, address: str | None) -> None:
    """ValueError (one line) when --device cuda asks a local Ray for GPUs this host lacks."""
    if device != "cuda" or address or os.environ.get("RAY_ADDRESS"):
        return  # connect.resolve_address's rule, without importing Ray
    from scaling.hardware.nvml import local_gpus

    count, why = local_gpus()
    if count < 1:
        raise ValueError(f"--device cuda, but this host has no GPU for a local Ray ({why})")
