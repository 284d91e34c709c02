"""Send/recv bandwidth between pairs of ranks, each direction: a node's GPU-pair matrix.

A point lists disjoint pairs [a, b] (global ranks); each pair measures a -> b, then b -> a.
The sender times `iters` transfers of `bytes`, each closed by a one-element acknowledgement
from the receiver, so a sample ends when the data has arrived (the acknowledgement's latency
is small beside the message); GB/s = bytes / time, one direction. Each rank returns the
direction it sent. validate measures one pair of a node at a time (pairs sharing a PCIe
switch or NVLink would disturb each other), all nodes side by side.
"""

from __future__ import annotations

import time

from scaling.pairing import round_robin
from scaling.workloads.catalog import Workload
from scaling.workloads.checks import SHARED, TABLE, levels, records

TARGET = "scaling.workloads.checks.p2p:run"


def plan(cfg, n: int) -> list[dict]:
    """Under `scaling run`: every pair of the group, in rounds of disjoint pairs."""
    return [spec([list(p) for p in pairs], cfg.validate.comm_bytes) | {"world_size": n}
            for pairs in round_robin(range(n)) if pairs]  # fmt: skip


def spec(pairs: list[list[int]], nbytes: int | None) -> dict:
    return {"workload": "p2p", "check": "p2p", "pairs": pairs, "bytes": nbytes,
            **levels.COMM_ITERS}  # fmt: skip


def run(spec: dict) -> dict:
    import torch
    import torch.distributed as dist

    from scaling.workloads import faults
    from scaling.workloads.timing import rank_device, sync

    me = dist.get_rank()
    pair = next((p for p in spec["pairs"] if me in p), None)
    if pair is None:
        return {"member": False}
    peer = pair[1] if pair[0] == me else pair[0]
    device = rank_device()
    nbytes = spec.get("bytes") or levels.COMM_BYTES[device]
    buf = torch.ones(max(nbytes // 4, 1), dtype=torch.float32, device=device)
    ack = torch.zeros(1, dtype=torch.float32, device=device)
    planted = faults.planted(spec)
    sent: list[float] = []
    for sender in pair:  # a -> b, then b -> a
        last = first = None
        for i in range(spec["warmup"] + spec["iters"]):
            planted.before_comm(first)  # no-op unless SCALING_FAULTS slows this rank's comm
            t0 = time.perf_counter()
            if sender == me:
                dist.send(buf, peer)
                dist.recv(ack, peer)
            else:
                dist.recv(buf, peer)
                dist.send(ack, peer)
            sync(device)
            last = time.perf_counter() - t0
            first = first or last
            if sender == me and i >= spec["warmup"]:
                sent.append(last)
    peer_who = (spec.get("who_of") or {}).get(peer)  # validate's numbering of the peer
    return {"who": spec.get("who"), "peer": peer, "peer_who": peer_who, "times": sent, "work": float(buf.numel() * 4),
            "bytes": buf.numel() * 4}  # fmt: skip


WORKLOAD = Workload(
    name="p2p", plan=plan, rank=TARGET, records=records, table=TABLE, shared=SHARED,
    default=False,
)  # fmt: skip
