"""The formulas every figure comes from, in one place (docs/formulas.md explains each).

Bandwidths follow nccl-tests exactly (doc/PERFORMANCE.md in NVIDIA/nccl-tests):
GB = 1e9 bytes, one direction, algbw = S / t, busbw = algbw * factor(n), where each op's
factor is part of its record (scaling/workloads/collectives/ops.py).
"""

from __future__ import annotations

import math

from scaling.workloads.collectives import ops


def busbw_factor(op: str, n: int) -> float | None:
    """The nccl-tests bus-bandwidth factor, or None where it is not defined (n = 1)."""
    if n < 1:
        raise ValueError(f"rank count must be >= 1, got {n}")
    if n == 1:
        # A single rank moves no data over any link: busbw is not applicable.
        return None
    return ops.get(op).busbw(n)


def algbw_gbps(size_bytes, time_s):
    """Algorithm bandwidth S / t in GB/s (1e9 bytes); numbers or pandas columns."""
    return size_bytes / time_s / 1e9


def busbw_gbps(op: str, n: int, size_bytes: float, time_s: float) -> float | None:
    """Bus bandwidth in GB/s; None (reported as n/a) when n = 1."""
    f = busbw_factor(op, n)
    return None if f is None else algbw_gbps(size_bytes, time_s) * f


def weak_efficiency(throughput_n: float, n: int, throughput_1: float) -> float:
    """Weak scaling (fixed per-GPU batch): throughput(n) / (n * throughput(1))."""
    return throughput_n / (n * throughput_1)


def strong_efficiency(time_1: float, n: int, time_n: float) -> float:
    """Strong scaling (fixed global batch): T(1) / (n * T(n))."""
    return time_1 / (n * time_n)


def comm_overhead(t_ddp: float, t_local: float, t_comm: float | None) -> dict[str, float | None]:
    """Exposed communication of a DDP step.

    exposed_comm = t_ddp - t_local; comm_fraction = exposed / t_ddp;
    overlap = 1 - exposed / t_comm (None when t_comm is unknown or zero).
    """
    exposed = t_ddp - t_local
    overlap = None
    if t_comm is not None and t_comm > 0 and not math.isnan(t_comm):
        overlap = 1.0 - exposed / t_comm
    return {"exposed_comm": exposed, "comm_fraction": exposed / t_ddp, "overlap": overlap}


def mfu(flops_per_step: float, step_time_s: float, peak_flops: float | None) -> float | None:
    """Model FLOPs utilisation: achieved FLOP/s / peak dense FLOP/s; None when the peak is unknown."""
    if not peak_flops:
        return None
    return flops_per_step / step_time_s / peak_flops
