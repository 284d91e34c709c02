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
    count, why = local_gpus()
    if count < 1:
        raise ValueError(f"--device cuda, but this host has no GPU for a local Ray ({why})")


def local_gpus() -> tuple[int, str]:
    """(GPUs a local Ray instance would offer, why none when 0): NVML's count, narrowed by
    CUDA_VISIBLE_DEVICES as Ray narrows it."""
    from scaling.hardware import nvml

    why = nvml.init_failure()
    if why is not None:
        return 0, why
    nvml.pynvml.nvmlInit()
    try:
        count = nvml.pynvml.nvmlDeviceGetCount()
    finally:
        nvml.pynvml.nvmlShutdown()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        listed = [d for d in visible.split(",") if d.strip() and d.strip() != "NoDevFiles"]
        count = min(count, len(listed))
        if not count:
            return 0, f"CUDA_VISIBLE_DEVICES={visible!r} hides them"
    return count, "NVML counts no GPU" if not count else ""
