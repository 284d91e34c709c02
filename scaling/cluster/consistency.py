"""Are the nodes alike? Version checks across nodes before anything is measured.

A mixed torch/NCCL/CUDA install is the first thing to rule out when one node
is slow (PyTorch's DDP benchmark checks the same before it measures).
"""

from __future__ import annotations

FIELDS = ("torch", "nccl", "cuda", "gpu_name")


def version_mismatches(metas: list[dict]) -> list[str]:
    """One line per field whose value differs between nodes, naming each node's value."""
    per_node: dict[str, dict] = {}
    for m in metas:
        per_node.setdefault(m["node_id"], m)
    if len(per_node) < 2:
        return []
    out = []
    for f in FIELDS:
        values: dict[str, list[str]] = {}
        for node, m in per_node.items():
            values.setdefault(str(m.get(f)), []).append(m.get("hostname") or node[:8])
        if len(values) > 1:
            parts = "; ".join(f"{v} on {', '.join(hosts)}" for v, hosts in values.items())
            out.append(f"{f} differs across nodes: {parts}")
    return out
