"""Rank side of the collectives workload (as training/bench.py is of training): time, then check.

The collectives workload, rank side: time one point and check its result exactly.

Which op runs, on what buffers, and what it must return come from the op's record
(ops.py); this module owns what every op shares, as nccl-tests' common.cu does: buffers,
the input pattern, warmup, timing and the #wrong count.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from scaling.workloads import faults, subgroups
from scaling.workloads.collectives import ops
from scaling.workloads.collectives.ops import PATTERN_MAX, Collective
from scaling.workloads.timing import make_timer, rank_device, sync


def pattern(rank: int, start: int, length: int, dtype, device) -> torch.Tensor:
    """Rank-dependent small integers 1..7 at global elements start..start+length, so every
    reduction here is exact: element i holds (i + 3 rank) mod 7 + 1.

    The values repeat every 7 elements, so they are tiled from 7 built in the buffer's own
    dtype: no int64 index tensor (8 bytes per element) is ever made, and the check needs no
    more memory than one more buffer (scaling/cluster/memory_fit.py counts on it).
    """
    first = (start + 3 * rank) % PATTERN_MAX
    period = [(first + k) % PATTERN_MAX + 1 for k in range(PATTERN_MAX)]
    base = torch.tensor(period, dtype=dtype, device=device)
    return base.repeat(-(-length // PATTERN_MAX))[:length]


def pattern_sum(n: int, start: int, length: int, dtype, device) -> torch.Tensor:
    """sum over ranks r < n of pattern(r, ...), in closed form.

    r -> 3r mod 7 is a bijection on every block of 7 consecutive ranks, so each
    full block adds 1+...+7 = 28; only the n % 7 leftover ranks are summed. Summed in the
    buffer's dtype: the check only runs where every value is exact in it (Buffers.exact).
    """
    total = torch.full((length,), 28 * (n // PATTERN_MAX), device=device, dtype=dtype)
    for r in range(n - n % PATTERN_MAX, n):
        total += pattern(r, start, length, dtype, device)
    return total


class Buffers:
    """Send/recv tensors of one point laid out as its op's record says, and the op itself as a
    zero-argument callable. `rank` and `n` are within `pg` (None: the world group)."""

    dist = dist  # what the records' calls use

    def __init__(self, op: str | Collective, count: int, dtype, device, rank: int, n: int, pg=None):
        self.op = ops.get(op) if isinstance(op, str) else op
        self.count, self.dtype, self.device = count, dtype, device
        self.rank, self.n, self.pg = rank, n, pg
        self.chunk = self.op.chunk(count, n)
        send, recv = self.op.buffer_counts(count, n)
        self.send = torch.empty(send, dtype=dtype, device=device)
        # in place, like nccl-tests' default, unless the op has a separate output
        self.recv = self.send if self.op.in_place else torch.empty(recv, dtype=dtype, device=device)
        self.fill()

    def fill(self) -> None:
        # A rank whose input is its chunk holds that chunk's slice of the global pattern.
        offset = self.rank * self.chunk if self.op.send == "chunk" else 0
        self.send.copy_(self.pattern(self.rank, offset, self.send.numel()))

    def __call__(self) -> None:
        self.op.call(self)

    def global_rank(self, group_rank: int) -> int:
        return group_rank if self.pg is None else dist.get_global_rank(self.pg, group_rank)

    def pattern(self, rank: int, start: int, length: int) -> torch.Tensor:
        return pattern(rank, start, length, self.dtype, self.device)

    def pattern_sum(self, start: int, length: int) -> torch.Tensor:
        return pattern_sum(self.n, start, length, self.dtype, self.device)

    @staticmethod
    def cat(parts: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(parts)

    def expected(self) -> torch.Tensor:
        return self.op.expected(self)

    def exact(self) -> bool:
        """Whether the expected values are exactly representable in this dtype."""
        dtype = ops.DTYPES[str(self.dtype).removeprefix("torch.")]
        return self.op.largest(self.n) <= dtype.exact


def count_wrong(result: torch.Tensor, expected: torch.Tensor) -> int:
    """nccl-tests #wrong: elements that differ from the exact expected value."""
    return int((result != expected).sum().item())


def run_point(spec: dict) -> dict:
    """Time one (op, dtype, size) point on this rank and check it exactly.

    blocking: barrier, then one op, timed alone; one sample per iteration.
    pipelined: barrier, then `depth` ops back to back and one sync; sample = time / depth.
    The op's record comes with the spec (the driver's registry; see the workload's
    `rank_spec`), or, for a spec built by hand, from this process's registry.
    """
    device = rank_device()
    pg = subgroups.subgroup(spec.get("subgroup"))  # collective: every rank calls it
    if pg is not None and dist.get_rank() not in spec["subgroup"]:
        return {"times": [], "wrong": None, "member": False}
    rank, n = dist.get_rank(pg), dist.get_world_size(pg)
    op = spec.get("collective") or ops.get(spec["op"])
    buf = Buffers(op, spec["count"], getattr(torch, spec["dtype"]), device, rank, n, pg)
    timer = faults.stretch(make_timer(device), spec)  # a no-op unless SCALING_FAULTS is set

    for _ in range(spec["warmup"]):
        buf()
    sync(device)

    times = []
    depth = spec["depth"] if spec["timing"] == "pipelined" else 1
    for _ in range(spec["iters"]):
        dist.barrier(group=pg)
        sync(device)
        timer.start()
        for _ in range(depth):
            buf()
        times.append(timer.stop() / depth)

    wrong = None
    if spec["check"] and buf.exact():
        buf.fill()
        buf()
        sync(device)
        result = buf.recv
        fault = spec.get("fault")  # test hook: corrupt this rank's result before checking
        if fault and fault.get("rank") == rank:
            result = result.clone()
            result[: fault.get("elements", 1)] += 1
        wrong = count_wrong(result, buf.expected())
    if spec.get("rank_samples") == "slowest":
        return slowest_only(times, wrong, pg, device)
    return {"times": times, "wrong": wrong, "member": True}


def slowest_only(times: list[float], wrong: int | None, pg, device: str) -> dict:
    """Reduce the point's times and its check inside the group before anything travels.

    Per iteration: the slowest time (MAX, as nccl-tests reports) and which rank took it (the
    highest rank among those with that time). The check: the group's total #wrong (a SUM, as
    nccl-tests sums it over ranks) and, only when it is not zero, which ranks had a wrong
    element, so a wrong rank is still named. The group's first rank carries all of it; the
    others send nothing, so the driver receives 2 I + 1 values per point instead of N (I + 1).
    The records made from them give the same summary as every rank's (records() in
    __init__.py). Collective: every member calls it, outside the timed region.
    """
    t = torch.tensor(times, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=pg)
    me = dist.get_rank()  # the world rank, as the driver numbers ranks
    mine = torch.tensor(times, dtype=torch.float64, device=device)
    who = torch.where(mine == t, me, -1).to(torch.int64)
    dist.all_reduce(who, op=dist.ReduceOp.MAX, group=pg)
    total, wrong_ranks = wrong_in_group(wrong, pg, device)
    if dist.get_rank(pg) != 0:
        return {"times": [], "member": True, "reduced": True}
    return {
        "times": t.tolist(),
        "slowest_ranks": who.tolist(),
        "wrong": total,
        "wrong_ranks": wrong_ranks,
        "member": True,
        "reduced": True,
    }


def wrong_in_group(wrong: int | None, pg, device: str) -> tuple[int | None, list[int]]:
    """The group's #wrong (the sum over its ranks; None when the check was skipped, which every
    rank skips alike: Buffers.exact depends on op, size of group and dtype only) and the world
    ranks with a wrong element, gathered only when the sum is not zero (a healthy run pays one
    one-element all_reduce per point). Collective: every member calls it."""
    if wrong is None:
        return None, []
    count = torch.tensor([wrong], dtype=torch.int64, device=device)
    dist.all_reduce(count, group=pg)
    total = int(count.item())
    if total == 0:
        return 0, []
    flags = torch.zeros(dist.get_world_size(pg), dtype=torch.int64, device=device)
    flags[dist.get_rank(pg)] = 1 if wrong else 0
    dist.all_reduce(flags, group=pg)
    group_ranks = [i for i, f in enumerate(flags.tolist()) if f]
    return total, [i if pg is None else dist.get_global_rank(pg, i) for i in group_ranks]
