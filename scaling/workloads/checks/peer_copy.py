"""Copy-engine peer copies between a node's GPUs, one pair at a time: nvbandwidth's way.

Azure NHC's GPU-pair bar (335 GB/s on H100/H200) is nvbandwidth's
device_to_device_memcpy_read_ce: a cudaMemcpy between two GPUs with peer access, each pair
alone, timed with CUDA events. One rank per node (its first) runs this: the ranks of a node
see all its GPUs (cluster/worker.py), so a tensor copy from one GPU to another in one process
is a cudaMemcpyAsync peer copy, done by a copy engine over NVLink or PCIe. Each ordered pair
is timed alone, `repeats` samples of `copies` copies of `bytes`; GB/s = bytes copied / time,
one direction. Where peer access is off, CUDA stages the copy through host memory: the pair
is recorded with peer_access False, and the collector does not hold it to the bar.

ATen issues a device-to-device copy on the *source* device's current stream (Copy.cu: "we
always perform the copy on the source device"), after that stream waits for the destination's;
the destination's stream then waits for the copy, so CUDA events on the destination's stream
time it whole. That is nvbandwidth's write pattern (device_to_device_memcpy_write_ce); NHC's
bar is from its read pattern (the reading GPU issues the copy). Both are copy-engine peer
copies over the same link; the docs say so next to the bar.
"""

from __future__ import annotations

from scaling.workloads.catalog import Workload
from scaling.workloads.checks import SHARED, TABLE, levels
from scaling.workloads.checks import records as rank_records

TARGET = "scaling.workloads.checks.peer_copy:run"
REPEATS = {"quick": 3, "standard": 5, "long": 5}


def plan(cfg, n: int) -> list[dict]:
    return [{"workload": "peer_copy", "check": "peer_copy", "world_size": n,
             "bytes": levels.HOST_COPY_BYTES, "copies": 4,
             "repeats": REPEATS[cfg.validate.level]}]  # fmt: skip


def run(spec: dict) -> dict:
    """spec["peers"]: the node's ranks [{rank, uuid}] in validate's order; every ordered pair."""
    from scaling.workloads.timing import rank_device

    if rank_device() != "cuda":
        return {"who": spec.get("who"), "skipped": "CPU ranks: no GPU peer copy to measure"}
    if not spec.get("peers"):  # under `scaling run`: nobody named the node's GPUs to pair
        return {"who": spec.get("who"), "skipped": "peer copies run under scaling validate"}
    import torch

    by_uuid = {_strip(str(torch.cuda.get_device_properties(i).uuid)): i
               for i in range(torch.cuda.device_count())}  # fmt: skip
    peers = [(p["rank"], by_uuid.get(_strip(p.get("uuid")))) for p in spec["peers"]]
    pairs = []
    for a, da in peers:
        for b, db in peers:
            if a == b:
                continue
            if da is None or db is None:
                pairs.append({"rank": a, "peer_rank": b, "error": "GPU not visible to this rank"})
                continue
            pairs.append({"rank": a, "peer_rank": b, **_time_pair(torch, da, db, spec)})
    return {"who": spec.get("who"), "pairs": pairs, "bytes": spec["bytes"]}


def _strip(uuid) -> str:
    return str(uuid or "").removeprefix("GPU-")


def _time_pair(torch, src: int, dst: int, spec: dict) -> dict:
    n = spec["bytes"]
    a = torch.empty(n, dtype=torch.uint8, device=f"cuda:{src}")
    b = torch.empty(n, dtype=torch.uint8, device=f"cuda:{dst}")
    peer = bool(torch.cuda.can_device_access_peer(dst, src))
    with torch.cuda.device(dst):
        for _ in range(2):  # warm-up: peer mappings, first touch
            b.copy_(a)
        torch.cuda.synchronize(dst)
        rates = []
        for _ in range(spec["repeats"]):
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(spec["copies"]):
                b.copy_(a, non_blocking=True)
            stop.record()
            stop.synchronize()
            rates.append(n * spec["copies"] / (start.elapsed_time(stop) / 1e3) / 1e9)
    del a, b
    return {"rounds": rates, "peer_access": peer}


def figures(point: dict, res: dict):
    """One record per ordered pair, named by its sending rank (peer_rank: the receiver)."""
    if "pairs" not in res:
        return [("peer_copy", {k: res[k] for k in ("skipped", "error") if k in res})]
    return [("peer_copy", pair | {"bytes": res["bytes"]}) for pair in res["pairs"]]


def records(point: dict, group, results: list[dict]) -> list[dict]:
    """A pair's record carries its sender as "rank" (over the runner's): the matrix's row."""
    return rank_records(point, group, results, figures)


WORKLOAD = Workload(
    name="peer_copy", plan=plan, rank=TARGET, records=records, table=TABLE, shared=SHARED,
    default=False,
)  # fmt: skip
