"""An all_reduce (or all_to_all) over the ranks of the current process group, timed the nccl-tests way.

validate runs it twice over: as an all_reduce over each node's GPUs (against the node's link
ceiling), and as the group test of the inter-node localisation, over every rank of the nodes
a test names (all GPUs per node, so each GPU's nearest NIC carries traffic: every rail is
tested), with [validate] group_op: an all_to_all by default (every rank sends a chunk to every
other, so every pair of the group's nodes is crossed), or an all_reduce (a ring: only
neighbouring nodes are crossed). Each time in a process group of exactly those ranks
(scaling/validate/groups.py), so disjoint groups run side by side and a stopped rank holds up
only its own group.

Blocking timing as in the collectives workload: a barrier, then one timed op, per iteration;
each member returns its times, the collector takes the slowest member per iteration (the
operation's time) and busbw = S/t x the op's nccl-tests factor (2(n-1)/n all_reduce, (n-1)/n
all_to_all; the Collective registry's). The result is checked exactly once at the end
(rank-dependent small integers; all_to_all: each received chunk against its sender's, #wrong).
A rank under SCALING_FAULTS' slow_comm waits before each op, so its peers really wait for it
inside the collective.

The module is named for what it holds (an all_reduce or an all_to_all); the workload keeps its
registered name "group_allreduce", which recorded runs' samples carry and `--workloads` takes.
"""

from __future__ import annotations

import time

from scaling.workloads.catalog import Workload
from scaling.workloads.checks import SHARED, TABLE, levels, records

TARGET = "scaling.workloads.checks.group_collective:run"


def plan(cfg, n: int) -> list[dict]:
    """Under `scaling run`: one all_reduce over the whole group."""
    if n < 2:
        return []
    return [spec("allreduce", cfg.validate.comm_bytes, "world") | {"world_size": n}]


def spec(check: str, nbytes: int | None, group_id: str, op: str = "all_reduce") -> dict:
    """check: allreduce (a node's ranks) or inter_node (a group test, all ranks of its nodes);
    op: all_reduce or all_to_all (the collective registry's names)."""
    return {"workload": "group_allreduce", "check": check, "bytes": nbytes, "op": op,
            "group_id": group_id, **levels.COMM_ITERS}  # fmt: skip


def run(spec: dict) -> dict:
    import torch
    import torch.distributed as dist

    from scaling.workloads import faults
    from scaling.workloads.collectives.bench import Buffers, count_wrong
    from scaling.workloads.timing import make_timer, rank_device, sync

    begin = time.perf_counter()
    device = rank_device()
    nbytes = spec.get("bytes") or levels.COMM_BYTES[device]
    n, op = dist.get_world_size(), spec.get("op") or "all_reduce"
    count = max(nbytes // 4 // n * n, n)  # all_to_all sends n equal chunks
    buf = Buffers(op, count, torch.float32, device, dist.get_rank(), n)
    planted, timer, first, times = faults.planted(spec), make_timer(device), None, []
    for i in range(spec["warmup"] + spec["iters"]):
        dist.barrier()
        sync(device)
        timer.start()
        planted.before_comm(first)  # no-op unless SCALING_FAULTS slows this rank's comm
        t0 = time.perf_counter()
        buf()
        sync(device)
        first = first or time.perf_counter() - t0
        t = timer.stop()
        if i >= spec["warmup"]:
            times.append(t)
    buf.fill()
    buf()
    sync(device)
    wrong = count_wrong(buf.recv, buf.expected()) if buf.exact() else None
    return {"who": spec.get("who"), "op": op, "times": times, "size_bytes": count * 4, "ranks": n,
            "wrong": wrong, "group_id": spec["group_id"],
            "wall_s": time.perf_counter() - begin}  # fmt: skip


WORKLOAD = Workload(
    name="group_allreduce", plan=plan, rank=TARGET, records=records, table=TABLE, shared=SHARED,
    default=False,
)  # fmt: skip
