"""Who each rank and node is, and the links they sit on: the "rank" and "node" records.

From the nodes' hardware snapshots (hardware/topology.py): each GPU's PCIe ceiling (the
bound of its host copies), each node's link ceiling for its all-GPU all_reduce, and the
`nvidia-smi topo -m` label of each GPU pair (pairs are compared with pairs of their own
link class). Where several Ray nodes run on one host, their ranks talk over loopback, so no
network ceiling applies, and the inter-node tests are judged against a measured reference.
"""

from __future__ import annotations

from scaling.hardware.rails import unreached_ports
from scaling.hardware.topology import group_link, pair_label, pcie_link
from scaling.validate.ranks import Rank, Ranks


def _snapshot_gpu(snapshots: dict, r: Rank) -> tuple[dict | None, int | None]:
    snap = snapshots.get(r.meta["node_id"])
    uuid = str(r.meta.get("gpu_uuid") or "").removeprefix("GPU-")
    for pos, g in enumerate((snap or {}).get("gpus", [])):
        if uuid and str(g.get("uuid") or "").removeprefix("GPU-") == uuid:
            return g, pos
    return None, None


def rank_records(ranks: Ranks, snapshots: dict) -> list[dict]:
    out = []
    for r in ranks.ranks:
        gpu, _ = _snapshot_gpu(snapshots, r)
        link = pcie_link(gpu) if gpu else None
        out.append({"type": "validate", "check": "rank", **r.who(), "node_id": r.meta["node_id"],
                    "pid": r.meta.get("pid"), "scaling_faults": r.meta.get("scaling_faults"),
                    "pcie_ceiling_gbps": link["gbps"] if link else None,
                    "pcie_label": link["label"] if link else None})  # fmt: skip
    return out


def _link_classes(snapshots: dict, members: list[Rank]) -> list[list[str]] | None:
    found = [_snapshot_gpu(snapshots, r) for r in members]
    if any(pos is None for _, pos in found):
        return None
    snap = snapshots[members[0].meta["node_id"]]
    return [[pair_label(snap, a, b) for _, b in found] for _, a in found]


def node_records(ranks: Ranks, snapshots: dict, backend: str) -> list[dict]:
    out = []
    for i, node in enumerate(ranks.nodes):
        members = ranks.of_node(node)
        link = group_link(snapshots, [_meta(r) for r in members])
        out.append({
            "type": "validate", "check": "node", "node": node, "node_index": i,
            "node_id": members[0].meta["node_id"], "node_ip": members[0].meta.get("node_ip"),
            "hostname": members[0].meta.get("hostname"), "device": members[0].meta.get("device"),
            "model": members[0].model, "members": [r.rank for r in members],
            "allreduce_ceiling_gbps": link.get("ceiling_gbps"),
            "allreduce_link": link.get("link_class"), "allreduce_why": link.get("why"),
            "link_class": _link_classes(snapshots, members) if len(members) > 1 else None,
            "transport": "gloo/tcp" if backend == "gloo" else None,
            **_rails(snapshots, members),
        })  # fmt: skip
    return out


def _rails(snapshots: dict, members: list[Rank]) -> dict:
    """The rails (nearest NIC ports) of the node's ranks, and the active ports none of them
    reaches: the inter-node group tests cannot see those (validate.json notes say so)."""
    snap = snapshots.get(members[0].meta["node_id"]) or {}
    gpus = [g["index"] for g, _ in (_snapshot_gpu(snapshots, r) for r in members) if g]
    keep = ("gpu", "bus_id", "path", "nics")
    mine = [{k: r.get(k) for k in keep} for r in snap.get("rails") or [] if r.get("gpu") in gpus]
    return {"rails": mine, "rails_unreached": unreached_ports(snap, gpus) if snap else []}


def _meta(r: Rank) -> dict:
    return {"node_id": r.meta["node_id"], "gpu_index": r.meta.get("gpu_index"),
            "gpu_uuid": r.meta.get("gpu_uuid")}  # fmt: skip


def network_ceiling(snapshots: dict, members: list[Rank]) -> tuple[float | None, str]:
    """The inter-node tests' link ceiling (GB/s) and its label, or None and why not."""
    if len({r.meta.get("node_ip") for r in members}) == 1:
        return None, "the Ray nodes share one host: their ranks talk over loopback, not a network"
    link = group_link(snapshots, [_meta(r) for r in members])
    return link.get("ceiling_gbps"), f"{link.get('link_class')}: {link.get('why')}"
