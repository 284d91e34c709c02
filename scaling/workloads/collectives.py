"""Collective sweeps, measured the way nccl-tests measures.

Driver side: `plan` lists the points; `records` turns per-rank results into
samples. Rank side: `run_point` times one point and checks its result exactly.

Sizes follow nccl-tests: S is the op's total bytes (all_gather / reduce_scatter
/ all_to_all: per-rank count * elsize * n), "count" is S / elsize.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from scaling.workloads import faults, groups
from scaling.workloads.timing import make_timer, sync

TARGET = "scaling.workloads.collectives:run_point"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Largest integer each dtype holds exactly: sums must stay below it for the check to be exact.
EXACT_LIMIT = {"float32": 2**24, "bfloat16": 2**8, "float16": 2**11}
# Ops whose per-rank buffers are n chunks: the element count must divide by n.
CHUNKED = {"all_gather", "reduce_scatter", "all_to_all"}
PATTERN_MAX = 7


def message_sizes(min_bytes: int, max_bytes: int, factor: int) -> list[int]:
    sizes, s = [], min_bytes
    while s <= max_bytes:
        sizes.append(s)
        if factor < 2:
            break
        s *= factor
    return sizes


def point_shape(op: str, size_bytes: int, dtype: str, n: int) -> dict:
    """Round S down so buffers divide evenly (as nccl-tests does); at least one element per chunk."""
    elsize = torch.tensor([], dtype=DTYPES[dtype]).element_size()
    count = max(size_bytes // elsize, 1)
    if op in CHUNKED:
        count = max(count - count % n, n)
    return {"count": count, "size_bytes": count * elsize, "elsize": elsize}


def plan(cfg, n: int) -> list[dict]:
    """Every point of the sweep at world size n, in run order."""
    c = cfg.collectives
    points = []
    for op in c.ops:
        if op == "sendrecv" and n == 1:
            continue  # a ring needs a neighbour; the driver notes the skip
        for dtype in c.dtypes:
            for s in message_sizes(c.min_bytes, c.max_bytes, c.factor):
                shape = point_shape(op, s, dtype, n)
                points.append(
                    {
                        "op": op,
                        "dtype": dtype,
                        "world_size": n,
                        "ranks": n,
                        "group": "world",
                        "size_bytes": shape["size_bytes"],
                        "count": shape["count"],
                        "warmup": c.warmup,
                        "iters": c.iters,
                        "timing": c.timing,
                        "depth": c.pipeline_depth,
                        "check": c.check,
                    }
                )
    return points


# ---------------------------------------------------------------- rank side


def pattern(rank: int, start: int, length: int, dtype, device) -> torch.Tensor:
    """Rank-dependent small integers 1..7, so every reduction here is exact."""
    i = torch.arange(start, start + length, device=device, dtype=torch.int64)
    return ((i + 3 * rank) % PATTERN_MAX + 1).to(dtype)


def pattern_sum(n: int, start: int, length: int, dtype, device) -> torch.Tensor:
    """sum over ranks r < n of pattern(r, ...), in closed form.

    r -> 3r mod 7 is a bijection on every block of 7 consecutive ranks, so each
    full block adds 1+...+7 = 28; only the n % 7 leftover ranks are summed.
    """
    total = torch.full((length,), 28 * (n // PATTERN_MAX), device=device, dtype=torch.int64)
    for r in range(n - n % PATTERN_MAX, n):
        total += pattern(r, start, length, torch.int64, device)
    return total.to(dtype)


class Buffers:
    """Send/recv tensors of one point plus the op, as a zero-argument callable.

    `rank` and `n` are within `pg` (None: the world group).
    """

    def __init__(self, op: str, count: int, dtype, device, rank: int, n: int, pg=None):
        self.op, self.count, self.dtype, self.device = op, count, dtype, device
        self.rank, self.n, self.pg = rank, n, pg
        chunk = count // n if op in CHUNKED else count
        if op == "all_gather":
            self.send = torch.empty(chunk, dtype=dtype, device=device)
        else:
            self.send = torch.empty(count, dtype=dtype, device=device)
        if op == "reduce_scatter":
            self.recv = torch.empty(chunk, dtype=dtype, device=device)
        elif op in ("all_gather", "all_to_all", "sendrecv"):
            self.recv = torch.empty(count, dtype=dtype, device=device)
        else:
            self.recv = self.send  # in place, like nccl-tests' default
        self.chunk = chunk
        self.fill()

    def fill(self) -> None:
        offset = self.rank * self.chunk if self.op == "all_gather" else 0
        self.send.copy_(pattern(self.rank, offset, self.send.numel(), self.dtype, self.device))

    def _global(self, group_rank: int) -> int:
        return group_rank if self.pg is None else dist.get_global_rank(self.pg, group_rank)

    def __call__(self) -> None:
        op, r, n, pg = self.op, self.rank, self.n, self.pg
        if op == "all_reduce":
            dist.all_reduce(self.send, group=pg)
        elif op == "broadcast":
            dist.broadcast(self.send, src=self._global(0), group=pg)
        elif op == "all_gather":
            _all_gather(self.recv, self.send, pg)
        elif op == "reduce_scatter":
            _reduce_scatter(self.recv, self.send, pg)
        elif op == "all_to_all":
            dist.all_to_all_single(self.recv, self.send, group=pg)
        elif op == "sendrecv":
            # Post both sides at once: blocking send-then-recv deadlocks in a ring.
            reqs = dist.batch_isend_irecv(
                [
                    dist.P2POp(dist.isend, self.send, self._global((r + 1) % n), pg),
                    dist.P2POp(dist.irecv, self.recv, self._global((r - 1) % n), pg),
                ]
            )
            for q in reqs:
                q.wait()
        else:  # pragma: no cover - plan() only emits known ops
            raise ValueError(op)

    def expected(self) -> torch.Tensor:
        op, r, n, c, dt, dev = self.op, self.rank, self.n, self.count, self.dtype, self.device
        if op == "all_reduce":
            return pattern_sum(n, 0, c, dt, dev)
        if op == "broadcast":
            return pattern(0, 0, c, dt, dev)
        if op == "all_gather":
            # chunk j was filled by rank j from global offset j * chunk
            return torch.cat([pattern(j, j * self.chunk, self.chunk, dt, dev) for j in range(n)])
        if op == "reduce_scatter":
            return pattern_sum(n, r * self.chunk, self.chunk, dt, dev)
        if op == "all_to_all":
            return torch.cat([pattern(j, r * self.chunk, self.chunk, dt, dev) for j in range(n)])
        if op == "sendrecv":
            return pattern((r - 1) % n, 0, c, dt, dev)
        raise ValueError(op)

    def exact(self) -> bool:
        """Whether the expected values are exactly representable in this dtype."""
        top = PATTERN_MAX * self.n if self.op in ("all_reduce", "reduce_scatter") else PATTERN_MAX
        return top <= EXACT_LIMIT[str(self.dtype).removeprefix("torch.")]


def _all_gather(out, inp, pg=None):
    # torch 2.13 renamed all_gather_into_tensor; older releases only have the old name.
    fn = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
    fn(out, inp, group=pg)


def _reduce_scatter(out, inp, pg=None):
    fn = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor
    fn(out, inp, group=pg)


def count_wrong(result: torch.Tensor, expected: torch.Tensor) -> int:
    """nccl-tests #wrong: elements that differ from the exact expected value."""
    return int((result != expected).sum().item())


def run_point(spec: dict) -> dict:
    """Time one (op, dtype, size) point on this rank and check it exactly.

    blocking: barrier, then one op, timed alone; one sample per iteration.
    pipelined: barrier, then `depth` ops back to back and one sync; sample = time / depth.
    """
    device = "cuda" if torch.cuda.is_available() and dist.get_backend() == "nccl" else "cpu"
    pg = groups.subgroup(spec.get("subgroup"))  # collective: every rank calls it
    if pg is not None and dist.get_rank() not in spec["subgroup"]:
        return {"times": [], "wrong": None, "member": False}
    rank, n = dist.get_rank(pg), dist.get_world_size(pg)
    dtype = DTYPES[spec["dtype"]]
    buf = Buffers(spec["op"], spec["count"], dtype, device, rank, n, pg)
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
    return {"times": times, "wrong": wrong, "member": True}


# ---------------------------------------------------------------- driver side


def hierarchical(points: list[dict], group) -> list[dict]:
    """At a multi-node world size, the same points over node 0's ranks ("intra": NVLink/PCIe)
    and over one rank per node ("inter": the network), so the bottleneck shows."""
    out = []
    for name, ranks in group.subgroups().items():
        k = len(ranks)
        nodes = 1 if name == "intra" else k
        for p in points:
            shape = point_shape(p["op"], p["size_bytes"], p["dtype"], k)
            out.append(
                {
                    **p,
                    "group": name,
                    "ranks": k,
                    "subgroup": ranks,
                    "nodes": nodes,
                    "span": "intra-node" if name == "intra" else "inter-node",
                    "shape": f"{k} = 1 node × {k}" if name == "intra" else f"{k} = {k} nodes × 1",
                    "size_bytes": shape["size_bytes"],
                    "count": shape["count"],
                }
            )
    return out


def records(point: dict, group, results: list[dict]) -> list[dict]:
    """Raw per-rank, per-iteration samples (and one check record per member rank)."""
    key = {
        "type": "coll",
        "workload": "collectives",
        "group": point.get("group", "world"),
        "op": point["op"],
        "world_size": point["world_size"],
        "ranks": point.get("ranks", point["world_size"]),
        "nodes": point.get("nodes", group.nodes),
        "span": point.get("span", group.span),
        "shape": point.get("shape", group.shape),
        "size_bytes": point["size_bytes"],
        "count": point["count"],
        "dtype": point["dtype"],
        "timing": point["timing"],
    }
    members = [(rank, res) for rank, res in enumerate(results) if res.get("member", True)]
    out = []
    for rank, res in members:
        out.extend(
            {**key, "iter": i, "rank": rank, "time_s": t} for i, t in enumerate(res["times"])
        )
    out.extend(
        {**key, "type": "check", "rank": rank, "wrong": res["wrong"]} for rank, res in members
    )
    return out
