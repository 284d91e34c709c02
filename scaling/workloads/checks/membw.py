"""Device memory bandwidth per rank: one large buffer copied into another, back to back.

Timed in samples of k copies (about a tenth of the check each). The figure is bytes copied /
time (one direction, as nvbandwidth's device-local copy and
hardware/transfers' D2D count it; the memory moves twice that, a read and a write). 1 GiB on
GPU (far past the L2), 64 MiB on CPU (past the last-level cache), for half the GEMM's time.
"""

from __future__ import annotations

import time

from scaling.workloads.catalog import Workload
from scaling.workloads.checks import SHARED, TABLE, levels, records

TARGET = "scaling.workloads.checks.membw:run"


def plan(cfg, n: int) -> list[dict]:
    return [{"workload": "membw", "check": "membw", "world_size": n,
             "seconds": levels.seconds(cfg) / 2}]  # fmt: skip


def run(spec: dict) -> dict:
    import torch

    from scaling.workloads.checks import device_name
    from scaling.workloads.timing import make_timer, rank_device, sync

    device = rank_device()
    nbytes = spec.get("bytes") or levels.MEMBW_BYTES[device]
    src = torch.ones(nbytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    start = time.perf_counter()
    dst.copy_(src)  # warmup: first touch of the pages
    sync(device)
    # A sample of k copies lasts about a tenth of the check (a GPU copies 1 GiB in ~1 ms).
    k = max(1, int(spec["seconds"] / 10 / max(time.perf_counter() - start, 1e-6)))
    levels.wait_for_start(spec)
    timer, times, begin = make_timer(device), [], time.perf_counter()
    while not times or time.perf_counter() - begin < spec["seconds"]:
        timer.start()
        for _ in range(k):
            dst.copy_(src)
        times.append(timer.stop())
    return {"who": spec.get("who"), "times": times, "work": float(nbytes * k), "bytes": nbytes,
            "copies_per_sample": k, "device_name": device_name(device)}  # fmt: skip


WORKLOAD = Workload(
    name="membw", plan=plan, rank=TARGET, records=records, table=TABLE, shared=SHARED,
    default=False,
)  # fmt: skip
