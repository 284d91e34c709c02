"""Links between GPUs and nodes: `nvidia-smi topo -m` labels and theoretical ceilings.

Input is a snapshot (see probe.py); nothing here touches NVML, so fixtures and
live probes go through the same code. All bandwidths are one direction, GB/s
(1e9 bytes/s), theoretical: PCIe per-lane rate x width, NVLink per-link rate x
active links. A measured busbw is compared against these.

    from scaling.hardware.topology import group_link
    group_link({"node-a": snapshot}, [{"node_id": "node-a", "gpu_index": 0}, ...])
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from scaling.hardware.decode import PATH_MEANING, PCIE_PATH_ORDER, nvlink_gbps, pcie_gbps
from scaling.hardware.rails import rails_reached

UNKNOWN = "unknown"


# --- one GPU's links ---------------------------------------------------------


def pcie_link(gpu: dict[str, Any]) -> dict[str, Any]:
    """The GPU's PCIe link: the generation it trains to, width, ceiling, and whether degraded.

    The generation comes from the load sample when there is one. At idle the
    link down-trains, so the idle value says nothing: the link's max stands in
    (and `gen_judged` says the ceiling assumes the link reaches it).
    """
    p = gpu["pcie"]
    under_load = p.get("curr_gen_under_load")
    judged = isinstance(under_load, int)
    gen = under_load if judged else p["max_gen"]
    width, max_width, max_gen = p["curr_width"], p["max_width"], p["max_gen"]
    if not isinstance(gen, int) or not isinstance(width, int):
        return {
            "label": "PCIe (generation or width unknown)",
            "gbps": None,
            "gen": gen,
            "width": width,
            "degraded": False,
            "gen_judged": judged,
        }
    short: list[str] = []
    if judged and isinstance(max_gen, int) and gen < max_gen:
        short.append(f"Gen{max_gen}")
    if isinstance(max_width, int) and width < max_width:
        short.append(f"x{max_width}")
    label = f"PCIe Gen{gen} x{width}"
    if short:
        label += f" (degraded, max {' '.join(short)})"
    return {
        "label": label,
        "gbps": pcie_gbps(gen, width),
        "gen": gen,
        "width": width,
        "degraded": bool(short),
        "gen_judged": judged,
    }


def nvlink_summary(gpu: dict[str, Any]) -> dict[str, Any]:
    """Active and total NVLinks and the version of the active ones ('none' on PCIe-only cards)."""
    links = gpu["nvlink"]
    if not isinstance(links, list):
        return {"active": UNKNOWN, "total": UNKNOWN, "version": UNKNOWN}
    active = [link for link in links if link["active"]]
    versions = {link["version"] for link in active}
    return {
        "active": len(active),
        "total": len(links),
        "version": versions.pop() if len(versions) == 1 else ("none" if not active else UNKNOWN),
    }


def gpu_table(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """Per GPU: PCIe current vs max, NVLinks, NUMA — the table under `scaling topo`."""
    rows = []
    remote = snapshot["nvlink_remote"]
    for i, g in enumerate(snapshot["gpus"]):
        p, pcie, nv = g["pcie"], pcie_link(g), nvlink_summary(g)
        links_out = remote["to_switch"][i] + sum(remote["to_gpu"][i])
        rows.append(
            {
                "index": g["index"],
                "name": g["name"],
                "bus_id": g["bus_id"],
                "pcie_idle": f"Gen{p['curr_gen']} x{p['curr_width']}",
                "pcie_under_load": p.get("curr_gen_under_load"),
                "pcie_max": f"Gen{p['max_gen']} x{p['max_width']}",
                "gpu_max_gen": p["gpu_max_gen"],
                "pcie_link": pcie["label"],
                "pcie_gbps": pcie["gbps"],
                "nvlinks": f"{nv['active']}/{nv['total']}",
                "nvlink_version": nv["version"],
                "nvlink_to_switch": remote["to_switch"][i],
                "nvlink_gbps": nvlink_gbps(str(nv["version"]), links_out) if links_out else None,
                "numa_node": g["numa_node"],
                "cpu_affinity": g["cpu_affinity"],
            }
        )
    return rows


# --- pairs of GPUs on one node -----------------------------------------------
# Matrices and link counts are indexed by position in snapshot["gpus"]; that
# equals the NVML index unless NVML lost a GPU. Messages name the NVML index.


def _name(snapshot: dict[str, Any], pos: int) -> str:
    return f"GPU{snapshot['gpus'][pos]['index']}"


def _nvlinks_between(snapshot: dict[str, Any], i: int, j: int) -> int:
    """Links usable from i to j: direct ones, else both GPUs' links into the NVSwitch fabric."""
    r = snapshot["nvlink_remote"]
    direct = min(r["to_gpu"][i][j], r["to_gpu"][j][i])
    if direct:
        return direct
    if r["to_switch"][i] and r["to_switch"][j]:
        return min(r["to_switch"][i], r["to_switch"][j])
    return 0


def _nvlink_version(snapshot: dict[str, Any], i: int) -> str:
    return str(nvlink_summary(snapshot["gpus"][i])["version"])


def pair_label(snapshot: dict[str, Any], i: int, j: int) -> str:
    """The `nvidia-smi topo -m` label of GPU i to GPU j: X, NV#, or the PCIe path."""
    if i == j:
        return "X"
    links = _nvlinks_between(snapshot, i, j)
    return f"NV{links}" if links else str(snapshot["common_ancestor"][i][j])


def matrix(snapshot: dict[str, Any]) -> list[list[str]]:
    """The GPU x GPU label matrix, as `nvidia-smi topo -m` prints it."""
    n = len(snapshot["gpus"])
    return [[pair_label(snapshot, i, j) for j in range(n)] for i in range(n)]


# --- a process group ---------------------------------------------------------


def _nvlink_group(snapshot: dict[str, Any], idx: list[int]) -> dict[str, Any]:
    """Every pair is NVLink: each GPU's ceiling is all its links into the group,
    since NCCL spreads rings over every link. The weakest GPU bounds busbw."""
    r = snapshot["nvlink_remote"]
    worst: tuple[float, int, int] | None = None
    for g in idx:
        links = r["to_switch"][g] + sum(r["to_gpu"][g][h] for h in idx if h != g)
        gbps = nvlink_gbps(_nvlink_version(snapshot, g), links)
        if gbps is None:
            return {
                "ceiling_gbps": None,
                "why": f"{_name(snapshot, g)}: NVLink version {_nvlink_version(snapshot, g)} "
                "has no known per-link rate",
            }
        if worst is None or gbps < worst[0]:
            worst = (gbps, g, links)
    assert worst is not None
    gbps, g, links = worst
    version = _nvlink_version(snapshot, g)
    return {
        "ceiling_gbps": gbps,
        "why": f"{_name(snapshot, g)} reaches the group over {links} NVLink {version} links "
        f"({gbps / links:g} GB/s each) = {gbps:g} GB/s one direction",
    }


def node_group(snapshot: dict[str, Any], gpu_indices: list[int]) -> dict[str, Any]:
    """Bottleneck link among the GPUs `gpu_indices` (NVML indices) of one node."""
    position = {g["index"]: pos for pos, g in enumerate(snapshot["gpus"])}
    bad = [i for i in gpu_indices if i not in position]
    if bad:
        return {
            "link_class": UNKNOWN,
            "ceiling_gbps": None,
            "why": f"GPU index {bad[0]} not in the snapshot ({len(position)} GPUs)",
        }
    idx = sorted({position[i] for i in gpu_indices})
    if len(idx) == 1:
        return {
            "link_class": "single GPU",
            "ceiling_gbps": None,
            "why": "one GPU: no link between ranks",
        }
    pairs = list(combinations(idx, 2))
    labels = {(i, j): pair_label(snapshot, i, j) for i, j in pairs}
    pcie_pairs = [p for p in pairs if not labels[p].startswith("NV")]
    if not pcie_pairs:
        weakest = min(labels.values(), key=lambda s: int(s[2:]))
        return {"link_class": weakest, **_nvlink_group(snapshot, idx)}
    # Some pair goes over PCIe: a ring through the group crosses it, so the
    # slowest PCIe link of a GPU in such a pair bounds busbw.
    touched = sorted({g for p in pcie_pairs for g in p})
    links = {g: pcie_link(snapshot["gpus"][g]) for g in touched}
    known = [g for g in touched if links[g]["gbps"] is not None]
    far = max(pcie_pairs, key=lambda p: _path_rank(labels[p]))
    path = labels[far]
    why_path = f"{_name(snapshot, far[0])}-{_name(snapshot, far[1])} over PCIe ({path}: {PATH_MEANING.get(path, path)})"
    p2p = snapshot["p2p"][far[0]][far[1]]
    if p2p != "OK":
        why_path += f"; P2P {p2p}, so traffic is staged through host memory"
    if not known:
        return {
            "link_class": links[touched[0]]["label"],
            "ceiling_gbps": None,
            "why": f"{why_path}; PCIe generation or width unknown",
        }
    g = min(known, key=lambda k: links[k]["gbps"])
    link = links[g]
    idle = "" if link["gen_judged"] else " (generation at its max: not measured under load)"
    return {
        "link_class": link["label"],
        "ceiling_gbps": link["gbps"],
        "why": f"{why_path}; slowest link {_name(snapshot, g)} {link['label']} = {link['gbps']:g} GB/s{idle}",
    }


def _path_rank(label: str) -> int:
    # Farther paths first when naming the pair that crosses PCIe; unknowns last of all.
    order = PCIE_PATH_ORDER
    return order.index(label) if label in order else len(order)


def node_network(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The node's fastest network link: active InfiniBand/RoCE first, else Ethernet.

    Returns {"label", "gbit", "count", "why"}: gbit in Gb/s (None when unknown);
    count is how many ports run at that rate (NCCL may use several rails; the
    ceiling counts one, the conservative reading).
    """
    host = snapshot["host"]
    ib = [p for p in host.get("infiniband", []) if p["state"] == "ACTIVE" and p["rate_gbps"]]
    if ib:
        best = max(p["rate_gbps"] for p in ib)
        kind = "IB" if ib[0]["link_layer"] == "InfiniBand" else "RoCE"
        count = sum(1 for p in ib if p["rate_gbps"] == best)
        return {
            "label": f"NET {best:g} Gb ({kind})",
            "gbit": best,
            "count": count,
            "why": "RDMA port rate",
        }
    nics = [n for n in host.get("nics", []) if n["physical"] and n["state"] == "up"]
    speeds = [n["speed_mbps"] for n in nics if n["speed_mbps"]]
    if speeds:
        best = max(speeds) / 1000
        return {
            "label": f"NET {best:g} Gb",
            "gbit": best,
            "count": sum(1 for s in speeds if s / 1000 == best),
            "why": "Ethernet link speed",
        }
    why = "no active NIC reports a link speed" + (
        " (virtio and many cloud NICs report none)" if nics else ""
    )
    return {"label": "NET (speed unknown)", "gbit": None, "count": 0, "why": why}


def _gpu_index(snapshot: dict[str, Any], rank: dict[str, Any]) -> int | None:
    uuid = rank.get("gpu_uuid")
    if uuid:
        for g in snapshot["gpus"]:
            if g["uuid"] == uuid or g["uuid"] == f"GPU-{uuid}":
                return g["index"]
        return None
    return rank.get("gpu_index")


def group_link(snapshots: dict[str, dict[str, Any]], ranks: list[dict[str, Any]]) -> dict[str, Any]:
    """The bottleneck link of a process group and its busbw ceiling (GB/s, one direction).

    snapshots: node_id -> snapshot. ranks: [{"node_id", "gpu_index" (NVML index,
    None on CPU), optional "gpu_uuid" which wins over the index}].
    Returns {"link_class", "ceiling_gbps" (None when no honest figure exists), "why"}.
    """
    if len(ranks) <= 1:
        return {
            "link_class": "single rank",
            "ceiling_gbps": None,
            "why": "one rank: busbw is 0 by definition",
        }
    nodes = list(dict.fromkeys(r["node_id"] for r in ranks))
    missing = [n for n in nodes if n not in snapshots]
    if any(r.get("gpu_index") is None and not r.get("gpu_uuid") for r in ranks):
        if len(nodes) == 1:
            return {
                "link_class": "loopback (gloo)",
                "ceiling_gbps": None,
                "why": "CPU ranks on one host exchange through gloo's loopback TCP: no hardware ceiling",
            }
        if missing:
            return _unknown_nodes(missing)
        return _network(snapshots, nodes, suffix=" (gloo)")
    if missing:
        return _unknown_nodes(missing)
    parts = []
    for node in nodes:
        snap = snapshots[node]
        if not snap["nvml"]["available"]:
            return {
                "link_class": UNKNOWN,
                "ceiling_gbps": None,
                "why": f"node {node}: {snap['nvml']['reason']}",
            }
        idx = [_gpu_index(snap, r) for r in ranks if r["node_id"] == node]
        if None in idx:
            return {
                "link_class": UNKNOWN,
                "ceiling_gbps": None,
                "why": f"node {node}: rank GPU not found",
            }
        parts.append(node_group(snap, idx))
    if len(nodes) == 1:
        return parts[0]
    gpus = {n: [_gpu_index(snapshots[n], r) for r in ranks if r["node_id"] == n] for n in nodes}
    net = _network(snapshots, nodes, gpus=gpus)
    slower = [p for p in parts if p["ceiling_gbps"] is not None and net["ceiling_gbps"] is not None]
    slower = [p for p in slower if p["ceiling_gbps"] < net["ceiling_gbps"]]
    if slower:
        worst = min(slower, key=lambda p: p["ceiling_gbps"])
        return {**worst, "why": f"inside a node, slower than the network: {worst['why']}"}
    return net


def _unknown_nodes(missing: list[str]) -> dict[str, Any]:
    return {
        "link_class": UNKNOWN,
        "ceiling_gbps": None,
        "why": f"no hardware snapshot for node {', '.join(missing)}",
    }


def _network(
    snapshots: dict[str, dict[str, Any]], nodes: list[str], suffix: str = "",
    gpus: dict[str, list[int]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    nets = {n: node_network(snapshots[n]) for n in nodes}
    unknown = [n for n, net in nets.items() if net["gbit"] is None]
    if unknown:
        n = unknown[0]
        return {
            "link_class": f"NET (speed unknown){suffix}",
            "ceiling_gbps": None,
            "why": f"node {n}: {nets[n]['why']}",
        }
    # GPU ranks: NCCL drives every rail their GPUs sit nearest (hardware/rails.py); gloo one.
    reach = {n: rails_reached(snapshots[n], gpus.get(n, [])) if gpus else (1, "") for n in nodes}
    slow = min(nodes, key=lambda n: nets[n]["gbit"] * reach[n][0])
    net, (count, how) = nets[slow], reach[slow]
    rails = f"; {net['count']} such ports, the ceiling counts one" if net["count"] > 1 else ""
    rails = f"; {how}" if gpus else rails
    return {
        "link_class": net["label"] + (f" x{count}" if count > 1 else "") + suffix,
        "ceiling_gbps": round(net["gbit"] * count / 8, 2),
        "why": f"slowest node {slow}: {net['why']} {net['gbit']:g} Gb/s = "
        f"{net['gbit'] / 8:g} GB/s per port{rails}",
    }


def describe(snapshot: dict[str, Any]) -> dict[str, Any]:
    """What a run's manifest records per node: label matrix, per-GPU links, network."""
    return {
        "matrix": matrix(snapshot),
        "gpus": gpu_table(snapshot),
        "network": node_network(snapshot),
    }


def manifest_topology(snapshots: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What a run's manifest records: node_id -> {hostname, matrix, gpus, network, snapshot}."""
    return {
        node_id: {
            "hostname": snap.get("host", {}).get("hostname"),
            **describe(snap),
            "snapshot": snap,
        }
        for node_id, snap in snapshots.items()
    }
