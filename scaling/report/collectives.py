"""Collectives, report layer (collector/collectives.py builds it): busbw curves, links, table.

The report's collectives sections: busbw curves, the link topology, summary.csv in full.
"""

from __future__ import annotations

from scaling import format as f
from scaling.collector.loaded_run import Run
from scaling.report import plots
from scaling.report.document import Col, Figure, Section, Table, Text, add_figure, records_table

BUSBW_NOTE = "one rank has no busbw: no data crosses a link"


def busbw_section(run: Run) -> Section:
    s = Section("Collectives: bus bandwidth", "collectives")
    c = run.collectives
    if c.empty:
        s.blocks.append(Text("No collectives measured in this run."))
        return s
    add_figure(
        s,
        "busbw",
        plots.busbw_vs_size(c),
        "busbw vs message size (nccl-tests definitions, GB = 1e9 B, one direction); dashed: "
        f"the link ceiling where known; {BUSBW_NOTE}.",
    )
    has_ceiling = "ceiling_gbps" in c and c["ceiling_gbps"].notna().any()
    gloo = run.manifest.get("backend") == "gloo" or run.manifest.get("device") == "cpu"
    ceiling_why = "CPU/gloo" if gloo else "link class unknown"
    for (op, dtype), g in c.groupby(["op", "dtype"], sort=False):
        s.blocks.append(_busbw_table(op, dtype, g, has_ceiling, ceiling_why))
    if not has_ceiling:
        s.blocks.append(Text(f"Link ceiling: {f.na(ceiling_why)}.", kind="note"))
    return s


def _busbw_table(op: str, dtype: str, g, has_ceiling: bool, ceiling_why: str) -> Table:
    """busbw by size (rows) and world size (columns), with the ceiling ratio when known."""
    sizes = sorted(n for n in g["world_size"].unique() if n > 1)
    by_point = {(r["size_bytes"], r["world_size"]): r for r in g.to_dict(orient="records")}
    rows = []
    for size_bytes in sorted(g["size_bytes"].unique()):
        row = [f.size(size_bytes)]
        for n in sizes:
            r = by_point.get((size_bytes, n))
            row.append("–" if r is None else _busbw_cell(r))
        rows.append(row)
    if has_ceiling:
        ceiling = ["ceiling"]
        for n in sizes:
            v = g[g["world_size"] == n]["ceiling_gbps"].dropna()
            ceiling.append(f.num(v.iloc[0], 1) if not v.empty else f.na(ceiling_why))
        rows.append(ceiling)
    skipped = " (1 rank left out: no busbw)" if (g["world_size"] == 1).any() else ""
    return Table(
        ["size"] + [f"{n} ranks" for n in sizes],
        rows,
        caption=f"{op} {dtype}: busbw in GB/s from the p50 time{skipped}"
        + ("; in brackets: share of the link ceiling." if has_ceiling else "."),
    )


def _busbw_cell(r: dict) -> str:
    cell = f.num(r["busbw_gbps"], 3)
    ratio = r.get("busbw_ceiling_ratio")
    return cell if f.missing(ratio) else f"{cell} ({f.pct(ratio, 0)})"


DETAIL = [
    Col("op", lambda r: r["op"]),
    Col("dtype", lambda r: r["dtype"]),
    Col("ranks", lambda r: f.integer(r["world_size"])),
    Col("size", lambda r: f.size(r["size_bytes"])),
    Col("iters", lambda r: f.integer(r["iters"])),
    Col("p50 (us)", lambda r: f.sig(r["time_p50_us"])),
    Col("p90", lambda r: f.sig(r["time_p90_us"])),
    Col("p99", lambda r: f.sig(r["time_p99_us"])),
    Col("min", lambda r: f.sig(r["time_min_us"])),
    Col("max", lambda r: f.sig(r["time_max_us"])),
    Col("algbw (GB/s)", lambda r: f.num(r["algbw_gbps"], 3)),
    Col("busbw (GB/s)", lambda r: f.num(r["busbw_gbps"], 3, why="1 rank")),
    Col("link", lambda r: f.text(r.get("link_class"), "n/a"), "link_class", "no hardware probe"),
    Col("transport", lambda r: f.text(r.get("transport"), "n/a"), "transport", "not reported"),
    Col(
        "of ceiling",
        lambda r: f.pct(r.get("busbw_ceiling_ratio"), 0),
        "busbw_ceiling_ratio",
        "no ceiling",
    ),
    Col("#wrong", lambda r: f.integer(r["wrong"], why="unchecked")),
]


def detail_section(run: Run) -> Section:
    s = Section("Collectives detail", "detail")
    if run.collectives.empty:
        s.blocks.append(Text("No collectives measured in this run."))
        return s
    s.blocks += records_table(
        run.collectives.to_dict(orient="records"),
        DETAIL,
        "summary.csv: per iteration the op's time is the slowest rank's; percentiles over "
        "iterations; bandwidths from the p50 time.",
        align_left=2,
    )
    return s


TOPO_LEGEND = (
    "X: self; NV#: NVLink with # links; PIX/PXB: one/several PCIe switches; PHB: PCIe host "
    "bridge; NODE: across host bridges within a NUMA node; SYS: across sockets; NET: network."
)


def topology_section(run: Run) -> Section:
    s = Section("Topology", "topology")
    matrices = topology_matrices(run.manifest.get("topology"))
    if not matrices:
        if run.manifest.get("device") == "cpu" or not any(
            r.get("gpu_name") for r in run.manifest.get("ranks") or []
        ):
            s.blocks.append(Text("No GPUs in this run: CPU ranks talk over loopback (gloo)."))
        else:
            s.blocks.append(Text("No topology recorded in the manifest."))
        return s
    for i, (node, labels, matrix) in enumerate(matrices):
        title = f"{node}: GPU link matrix (nvidia-smi topo -m)"
        fig = plots.topology_heatmap(labels, matrix, title)
        s.blocks.append(Figure(f"topology_{i}", plots.png(fig), f"{title}; darker: faster."))
        rows = [[label] + row for label, row in zip(labels, matrix, strict=True)]
        s.blocks.append(Table([""] + labels, rows, caption=TOPO_LEGEND))
    return s


def topology_matrices(topo) -> list[tuple[str, list[str], list[list[str]]]]:
    """(host, GPU labels, label matrix) per node, from the manifest's "topology".

    The run writes {node_id: {"hostname", "matrix", "gpus", "network", "snapshot"}}
    (scaling.hardware.topology.manifest_topology); nodes without GPUs have an empty matrix.
    """
    out = []
    for node_id, node in (topo or {}).items():
        matrix = node.get("matrix") if isinstance(node, dict) else None
        if not _square(matrix):
            continue
        labels = [f"GPU{i}" for i in range(len(matrix))]
        out.append(
            (
                str(node.get("hostname") or node_id),
                labels,
                [[str(v) for v in row] for row in matrix],
            )
        )
    return out


def _square(m) -> bool:
    return (
        isinstance(m, list)
        and len(m) > 0
        and all(isinstance(row, list) and len(row) == len(m) for row in m)
    )
