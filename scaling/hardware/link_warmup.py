"""A short matmul load on every visible GPU, so PCIe links train to their real generation.

GPUs drop the PCIe generation at idle to save power (Gen1 on an idle H100 is
normal), so the probe judges the generation only while this load runs.
"""

from __future__ import annotations

import time
from typing import Any


def cuda_absent_reason() -> str | None:
    """None when torch sees a CUDA device; else why not, in plain words."""
    try:
        import torch
    except Exception as e:
        return f"torch cannot be imported ({type(e).__name__})"
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    if not torch.cuda.is_available():
        return "torch finds no CUDA device (no GPU, no driver, or CUDA_VISIBLE_DEVICES hides them)"
    return None


def run_load(seconds: float = 2.0, n: int = 8192) -> dict[str, Any]:
    """Back-to-back fp16 matmuls on every visible GPU for about `seconds`.

    Returns {"ran", "reason", "seconds", "uuids"}: uuids are the loaded GPUs as
    NVML writes them ("GPU-..."), or None where torch cannot say.
    """
    reason = cuda_absent_reason()
    if reason is not None:
        return {"ran": False, "reason": reason, "seconds": 0.0, "uuids": None}
    import torch

    devices = [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    operands = [
        (
            torch.randn(n, n, device=d, dtype=torch.float16),
            torch.randn(n, n, device=d, dtype=torch.float16),
        )
        for d in devices
    ]
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        # Queue work on every GPU before waiting, so all of them are busy at once.
        for a, b in operands:
            for _ in range(8):
                a @ b
        for d in devices:
            torch.cuda.synchronize(d)
    elapsed = time.perf_counter() - start
    del operands
    torch.cuda.empty_cache()
    try:
        uuids = [f"GPU-{torch.cuda.get_device_properties(d).uuid}" for d in devices]
    except (AttributeError, RuntimeError):
        uuids = None
    return {"ran": True, "reason": None, "seconds": round(elapsed, 2), "uuids": uuids}
