"""Host checks, once per node, as a Ray task pinned to it: what `scaling doctor` reads (the
hardware snapshot, with the GPU-to-NIC rails added), PCIe ASPM on the GPUs' links, and the
--storage read bandwidth.

The task reserves no CPU (num_cpus=0), so it runs beside the ranks that hold every CPU of the
node; validate runs it before the timed checks, so it cannot disturb them. A node whose task
fails or does not answer gets records saying so (NO_MEASUREMENT), and the rest go on.
"""

from __future__ import annotations

from scaling.validate.ranks import Ranks

PROBE_TIMEOUT_S = 120.0


def node_checks(storage: str | None, storage_bytes: int) -> dict:
    """Run on the node: its snapshot, the ASPM state of each GPU's link, the storage read."""
    from scaling.hardware.infiniband import gpu_rails
    from scaling.hardware.pcie_aspm import aspm_state
    from scaling.hardware.probe import probe
    from scaling.hardware.storage import read_bandwidth

    snap = probe(load=False)
    # which NIC each GPU sits nearest (its rail): the inter-node ceiling counts the rails used
    snap["rails"] = gpu_rails(snap["gpus"], snap["host"].get("infiniband") or [])
    aspm = [{"gpu": g["index"], "uuid": g["uuid"], **aspm_state(g["bus_id"])}
            for g in snap["gpus"] if g.get("bus_id") not in (None, "unknown")]  # fmt: skip
    return {
        "snapshot": snap,
        "aspm": aspm,
        "storage": read_bandwidth(storage, storage_bytes) if storage else None,
    }


def _uuids(ranks: Ranks, node: str) -> set[str]:
    return {str(r.meta.get("gpu_uuid") or "").removeprefix("GPU-") for r in ranks.of_node(node)}


def host_records(ranks: Ranks, cfg) -> tuple[list[dict], dict[str, dict]]:
    """Records of every node's host checks, and node_id -> snapshot (for link ceilings)."""
    from scaling.cluster.node_probe import on_nodes

    v = cfg.validate
    ids = {r.meta["node_id"]: r.node for r in ranks.ranks}
    storage_s = 4 * v.storage_bytes / 1e8 if v.storage else 0.0  # room for a 0.1 GB/s disk
    got = on_nodes(node_checks, list(ids), v.storage, v.storage_bytes,
                   timeout_s=PROBE_TIMEOUT_S + storage_s, name="scaling-validate-host")  # fmt: skip
    records, snapshots = [], {}
    for node_id, node in ids.items():
        result, error = got[node_id]
        base = {"type": "validate", "node": node, "node_id": node_id}
        if error:
            records.append({**base, "check": "snapshot", "error": error})
            if v.storage:
                records.append({**base, "check": "storage", "error": error})
            continue
        snapshots[node_id] = result["snapshot"]
        records.append({**base, "check": "snapshot", "snapshot": result["snapshot"]})
        used = _uuids(ranks, node)
        records += [{**base, "check": "pcie_aspm", **a} for a in result["aspm"]
                    if str(a.get("uuid") or "").removeprefix("GPU-") in used]  # fmt: skip
        if v.storage:
            records.append({**base, "check": "storage", **result["storage"]})
    return records, snapshots
