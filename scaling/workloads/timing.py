"""Timers: CUDA events on GPU, perf_counter on CPU. Both return seconds."""

from __future__ import annotations

import os
import time


class CpuTimer:
    def start(self) -> None:
        self._t0 = time.perf_counter()

    def stop(self) -> float:
        return time.perf_counter() - self._t0


class CudaTimer:
    """Events on the current stream; stop() waits for the end event (a CPU-GPU sync point)."""

    def __init__(self):
        import torch

        self._start = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)

    def start(self) -> None:
        self._start.record()

    def stop(self) -> float:
        self._end.record()
        self._end.synchronize()
        return self._start.elapsed_time(self._end) / 1e3


def make_timer(device: str):
    return CudaTimer() if device == "cuda" else CpuTimer()


def sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


DEVICE_ENV = "SCALING_RANK_DEVICE"


def rank_device() -> str:
    """cuda or cpu: what this rank measures on. The rank actor says so (DEVICE_ENV), because
    the backend alone does not: the shared-GPU test mode runs CUDA tensors over gloo. Outside
    an actor (a test calling a workload directly), CUDA under NCCL, else CPU."""
    import torch
    import torch.distributed as dist

    device = os.environ.get(DEVICE_ENV)
    if device in ("cuda", "cpu"):
        return device
    nccl = dist.is_initialized() and dist.get_backend() == "nccl"
    return "cuda" if torch.cuda.is_available() and nccl else "cpu"
