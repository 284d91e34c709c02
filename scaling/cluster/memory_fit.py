"""Will the largest message fit? Checked before Ray starts, not found out by the OOM killer.

`--max-bytes 10G` on a 24 GiB host once drove the machine into Ray's OOM killer and a
60-line dump. The buffers a rank allocates for a point are known in advance (the layout on
the op's record, `Collective.buffer_counts`, which the rank's `Buffers` allocates from) and
so is what the exact check adds, so the sweep is refused, in one line naming the largest size that fits, when:

- cpu: (buffers + check + a rank's process) x the ranks on a node > the node's available memory;
- cuda: buffers + check + CUDA/NCCL's own allocations > the GPU's memory.

The per-process figures are estimates (labelled so in the message), the buffer sizes are not.
"""

from __future__ import annotations

from collections.abc import Iterable

from scaling.config.units import format_bytes
from scaling.workloads.collectives import ops

GIB = 1 << 30
PROCESS_BYTES = {"cpu": GIB // 2, "cuda": GIB}
"""Estimated memory of a rank beyond its buffers: a torch + Ray worker process on cpu (RSS
measured here about 0.4 GiB), the CUDA context and NCCL's buffers on cuda."""
USABLE = 0.9
"""Fraction of available memory a sweep may plan to use; the rest is left to everything else."""


def buffer_bytes(op: str, size_bytes: int, n: int, dtype: str = "float32") -> int:
    """Bytes of the send and receive buffers one rank holds for an op of S = size_bytes at n
    ranks: the op record's layout (ops.Collective.buffer_counts) at the point's element count,
    as the sweep plans it (S rounded down to whole chunks)."""
    from scaling.workloads.collectives import point_shape

    shape = point_shape(op, size_bytes, dtype, max(n, 1))
    send, recv = ops.get(op).buffer_counts(shape["count"], max(n, 1))
    return (send + recv) * shape["elsize"]


def check_bytes(size_bytes: int, dtype: str) -> int:
    """Transient memory of the exact check: the expected values and one term of their sum
    (two buffers in the op's dtype, see collectives/bench.pattern) and the comparison's
    one byte per element."""
    return 2 * size_bytes + size_bytes // ops.DTYPES[dtype].elsize


def rank_bytes(op: str, size_bytes: int, n: int, dtype: str, check: bool) -> int:
    return buffer_bytes(op, size_bytes, n, dtype) + (check_bytes(size_bytes, dtype) if check else 0)


def check_fit(
    sizes: Iterable[int],
    ops: Iterable[str],
    dtypes: Iterable[str],
    world: int,
    ranks_per_node: int,
    capacity_bytes: int,
    device: str,
    check: bool,
    where: str,
) -> None:
    """Raise ValueError (one line) when the sweep's largest point would not fit `where`."""
    from scaling.config.units import format_size

    sizes, ops, dtypes = sorted(sizes), list(ops), list(dtypes)
    per_process = PROCESS_BYTES[device]
    sharing = ranks_per_node if device == "cpu" else 1  # one GPU per rank

    def need(s: int) -> int:
        worst = max(rank_bytes(op, s, world, dt, check) for op in ops for dt in dtypes)
        return sharing * (worst + per_process)

    budget = USABLE * capacity_bytes
    if not sizes or need(sizes[-1]) <= budget:
        return
    fits = [s for s in sizes if need(s) <= budget]
    top = sizes[-1]
    who = f"{sharing} ranks x " if sharing > 1 else ""
    largest = (
        f"the largest size that fits is {format_size(fits[-1])} (--max-bytes {format_size(fits[-1])})"
        if fits
        else "no size of this sweep fits"
    )
    raise ValueError(
        f"the sweep's largest size, {format_size(top)}, needs about {format_bytes(need(top), 1)} ({who}buffers"
        f"{' and check' if check else ''} plus an estimated {format_bytes(per_process, 1)} per rank) but "
        f"{where} has {format_bytes(capacity_bytes, 1)}: {largest}"
    )


def _sweep_sizes(cfg) -> list[int]:
    from scaling.workloads.collectives import message_sizes

    c = cfg.collectives
    return message_sizes(c.min_bytes, c.max_bytes, c.factor)


def _fit(cfg, device: str, ranks_per_node: int, capacity: int, where: str) -> None:
    c = cfg.collectives
    check_fit(
        _sweep_sizes(cfg), c.ops, c.dtypes, max(cfg.gpus), ranks_per_node, capacity, device,
        c.check, where,
    )  # fmt: skip


def check_local(cfg) -> None:
    """Before Ray starts a local instance: this host's memory, or its smallest GPU's."""
    if "collectives" not in cfg.workloads or cfg.cluster.address:
        return
    from scaling.hardware.host import memory_facts
    from scaling.hardware.nvml import read_gpus

    device = cfg.cluster.device
    gpus = read_gpus()["gpus"] if device != "cpu" else []
    totals = [g["memory"]["total_bytes"] for g in gpus]
    totals = [t for t in totals if isinstance(t, int)]
    if device == "cuda" or (device == "auto" and totals):
        if totals:
            _fit(cfg, "cuda", 1, min(totals), "this host's smallest GPU")
        return
    available = memory_facts().get("mem_available_bytes")
    if isinstance(available, int):
        _fit(cfg, "cpu", max(cfg.gpus), available, "this host")


def check_nodes(cfg, device: str, metas: list[dict], snapshots: dict[str, dict]) -> None:
    """After placement, per node: the ranks placed there against that node's memory."""
    if "collectives" not in cfg.workloads:
        return
    from scaling.cluster.node_memory import node_memory

    for node in node_memory(device, metas, snapshots):
        _fit(cfg, device, 1 if device == "cuda" else node.ranks, node.capacity_bytes, node.where)
