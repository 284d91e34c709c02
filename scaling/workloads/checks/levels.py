"""What each `--level` runs, and the sizes each check uses on GPU and on CPU.

Levels follow DCGM's diag levels in spirit (r1 seconds, r2 minutes, r3 a long burn):

    quick     ~1 min on an 8-GPU node: doctor, GEMM, memory, host copies, SDC x2, the node's
              all_reduce, across nodes the screen (and localisation on a failure)
    standard  ~5 min: the same, 30 s per timed check, SDC x5, plus the pairwise GPU matrix
    long      standard plus a burn of burn_minutes: the seeded matmul on every GPU, digests
              compared as it goes (imbue's host validation burns 5 minutes of bf16 matmul)

Sizes: the GEMM side is 8192 on GPU (bf16; large enough to reach the tensor cores' plateau)
and 512 on CPU (fp32, one thread per rank); messages are 256 MiB on GPU (past NVLink's and
NCCL's large-message knee) and 4 MiB on CPU. [validate] check_seconds, gemm_size and
comm_bytes override them (the tests run tiny levels through them).
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20


@dataclass(frozen=True)
class Level:
    name: str
    seconds: float
    """Seconds of the GEMM check per rank; memory bandwidth and host copies take half."""
    sdc_reps: int
    pairwise: bool
    burn: bool


LEVELS = {
    "quick": Level("quick", 5.0, 2, pairwise=False, burn=False),
    "standard": Level("standard", 30.0, 5, pairwise=True, burn=False),
    "long": Level("long", 30.0, 5, pairwise=True, burn=True),
}
GEMM_SIZE = {"cuda": 8192, "cpu": 512}
COMM_BYTES = {"cuda": 256 * MIB, "cpu": 4 * MIB}
MEMBW_BYTES = {"cuda": 1024 * MIB, "cpu": 64 * MIB}
HOST_COPY_BYTES = 256 * MIB
COMM_ITERS = {"warmup": 3, "iters": 10}
SDC_SEED = 20260301


def level(cfg) -> Level:
    return LEVELS[cfg.validate.level]


def seconds(cfg) -> float:
    v = cfg.validate
    return v.check_seconds if v.check_seconds is not None else LEVELS[v.level].seconds


def gemm_size(cfg, device: str) -> int:
    return cfg.validate.gemm_size or GEMM_SIZE[device]


def comm_bytes(cfg, device: str) -> int:
    return cfg.validate.comm_bytes or COMM_BYTES[device]


START_DELAY_S = 1.0
"""validate starts the timed per-rank checks this long after sending them, on every rank at
the same wall-clock time (`start_at`), so the ranks load their devices (and, on a shared
host, its cores and memory) together for the whole window rather than some alone."""
MAX_WAIT_S = 5.0
"""A rank whose clock is far behind the driver's waits no longer than this."""


def wait_for_start(spec: dict) -> None:
    """Sleep until spec["start_at"] (wall clock), if given, at most MAX_WAIT_S."""
    import time

    start_at = spec.get("start_at")
    if start_at:
        time.sleep(max(0.0, min(start_at - time.time(), MAX_WAIT_S)))
