"""Plain-text views of snapshots and checks: what `scaling topo` and `scaling doctor` print.

Plain columns rather than rich tables, so the output greps and diffs the way
`nvidia-smi topo -m` does.
"""

from __future__ import annotations

from typing import Any

from scaling.config.units import format_bytes
from scaling.hardware.decode import PATH_MEANING
from scaling.hardware.topology import gpu_table, matrix, node_network

LEGEND = "Legend: X = self; NV# = # NVLinks (direct, or into the NVSwitch fabric); " + "; ".join(
    f"{k} = {PATH_MEANING[k]}" for k in ("PIX", "PXB", "PHB", "NODE", "SYS")
)
CEILING_NOTE = (
    "GB/s columns are theoretical one-direction ceilings (1 GB = 1e9 bytes), not measurements."
)


def _columns(rows: list[list[str]], gap: int = 2) -> list[str]:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return [
        "".join(cell.ljust(w + gap) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in rows
    ]


def _gib(value: Any) -> str:
    return format_bytes(value, 1) if isinstance(value, int) else "unknown"


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:g}"


def host_line(snap: dict[str, Any]) -> str:
    h = snap["host"]
    return (
        f"Host: {h['cpu_model']}, {h['cpu_logical']} logical CPUs ({h['cpu_usable']} usable), "
        f"{h['numa_nodes']} NUMA node(s), RAM {_gib(h['mem_total_bytes'])}, swap used "
        f"{_gib(h['swap_used_bytes'])}; {h['os']}, kernel {h['kernel']}"
    )


def stack_line(snap: dict[str, Any]) -> str:
    h, nv = snap["host"], snap["nvml"]
    driver = (
        f"{nv['driver_version']} (CUDA {nv['cuda_driver_version']})" if nv["available"] else "none"
    )
    return (
        f"Stack: NVIDIA driver {driver}; "
        f"torch {h['torch']}, CUDA runtime {h['cuda_runtime'] or 'none'}, NCCL {h['nccl'] or 'none'}"
    )


def network_line(snap: dict[str, Any]) -> str:
    net = node_network(snap)
    ports = f", {net['count']} ports" if net["count"] > 1 else ""
    return f"Network: {net['label']}{ports} ({net['why']})"


def topology_text(name: str, snap: dict[str, Any]) -> str:
    """One node: host and stack, the topo matrix, the per-GPU link table, the network."""
    lines = [f"== {name}", host_line(snap), stack_line(snap), network_line(snap)]
    gpus = snap["gpus"]
    if not gpus:
        lines.append(f"No GPU: {snap['nvml']['reason']}.")
        return "\n".join(lines)
    labels = matrix(snap)
    head = [""] + [f"GPU{g['index']}" for g in gpus] + ["CPU affinity", "NUMA"]
    body = [
        [f"GPU{g['index']}", *labels[i], str(g["cpu_affinity"]), str(g["numa_node"])]
        for i, g in enumerate(gpus)
    ]
    lines += ["", *_columns([head, *body]), LEGEND, ""]
    table = [
        [
            "GPU",
            "name",
            "bus id",
            "PCIe idle",
            "under load",
            "max",
            "PCIe link",
            "GB/s",
            "NVLinks",
            "ver",
            "GB/s",
        ]
    ]
    for r in gpu_table(snap):
        table.append(
            [
                str(r["index"]),
                str(r["name"]),
                str(r["bus_id"]),
                r["pcie_idle"],
                f"Gen{r['pcie_under_load']}" if r["pcie_under_load"] else "not measured",
                r["pcie_max"],
                r["pcie_link"],
                _num(r["pcie_gbps"]),
                r["nvlinks"],
                str(r["nvlink_version"]),
                _num(r["nvlink_gbps"]),
            ]
        )
    lines += _columns(table)
    if not snap.get("load", {}).get("ran"):
        lines.append(
            "PCIe generation not measured under load (idle links down-train): "
            "`scaling topo --load` measures it."
        )
    lines.append(CEILING_NOTE)
    return "\n".join(lines)


def checks_text(title: str, checks: list[dict[str, Any]]) -> str:
    lines = [f"== {title}"]
    width = max((len(c["check"]) for c in checks), default=0)
    for c in checks:
        lines.append(f"{c['status']:4}  {c['check']:{width}}  {c['detail']}")
        if c["status"] != "PASS" and c["advice"]:
            lines.append(f"{'':4}  {'':{width}}  -> {c['advice']}")
    return "\n".join(lines)


def transfers_text(rows: list[dict[str, Any]]) -> str:
    table = [["test", "where", "measured GB/s", "ceiling GB/s", "measured/ceiling", "link"]]
    for r in rows:
        ratio = f"{r['ratio']:.0%}" if r["ratio"] is not None else "n/a"
        table.append(
            [
                r["test"],
                r["where"],
                f"{r['measured_gbps']:.2f}",
                _num(r["ceiling_gbps"]),
                ratio,
                r["link"],
            ]
        )
    return "\n".join(_columns(table))
