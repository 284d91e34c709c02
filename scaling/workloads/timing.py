"""Timers: CUDA events on GPU, perf_counter on CPU. Both return seconds."""

from __future__ import annotations

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
