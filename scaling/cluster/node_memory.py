"""The memory each node offers the ranks placed on it, computed once for the sweep's fit check
(cluster/memory_fit.py) and tune's memory model (tune/model.py).

    for node in node_memory("cpu", gang.metas, snapshots):
        node.ranks, node.capacity_bytes, node.where      # 2, 19327352832, "node ci-host"

Which figure, and why:

- cuda: the smallest GPU's total memory (NVML memory.total). A rank has its GPU to itself, so
  what the card holds is what one rank may plan with (CUDA's context and NCCL's buffers are
  accounted for by the callers).
- cpu: the host's *available* memory (MemAvailable), shared by the ranks placed there. The
  snapshot is taken after the ranks were placed, so what their idle processes hold, what the
  OS, Ray's object store and other users hold is already out of it: it is what the ranks can
  still allocate without swapping. The total (MemTotal) counts all of that as free; tune used
  it until both callers read this module, and on a busy host it let candidates through that
  the OOM killer then stopped.

A node without a usable figure (no snapshot, no NVML) is left out: callers say "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeMemory:
    node_id: str
    ranks: int
    """Ranks placed on this node."""
    capacity_bytes: int
    """cuda: the smallest GPU's total memory (per rank); cpu: the host's available memory
    (for all its ranks together)."""
    where: str
    """What the figure is, for messages: "the smallest GPU of gpu-07", "node ci-host"."""
    host: str


def ranks_per_node(metas: list[dict]) -> dict[str, int]:
    """node_id -> ranks placed there, in rank order."""
    per_node: dict[str, int] = {}
    for m in metas:
        per_node[m["node_id"]] = per_node.get(m["node_id"], 0) + 1
    return per_node


def node_memory(device: str, metas: list[dict], snapshots: dict[str, dict]) -> list[NodeMemory]:
    """One NodeMemory per node with a known figure, in placement order."""
    out = []
    for node, ranks in ranks_per_node(metas).items():
        snap = snapshots.get(node) or {}
        host = (snap.get("host") or {}).get("hostname", node[:8])
        if device == "cuda":
            totals = [g.get("memory", {}).get("total_bytes") for g in snap.get("gpus") or []]
            totals = [t for t in totals if isinstance(t, int)]
            if totals:
                out.append(
                    NodeMemory(node, ranks, min(totals), f"the smallest GPU of {host}", host)
                )
            continue
        available = (snap.get("host") or {}).get("mem_available_bytes")
        if isinstance(available, int):
            out.append(NodeMemory(node, ranks, available, f"node {host}", host))
    return out
