"""The report's plots, drawn from the collector's tables with matplotlib's Agg canvas.

Each function takes a table from `scaling.collector.loaded_run.Run` and returns a matplotlib
Figure, or None when the run has nothing to draw. No pyplot: figures never touch global
state, so the same functions serve the report, a notebook and a script.

    from scaling.collector.loaded_run import load_run
    from scaling.report import plots
    run = load_run("runs/...")
    fig = plots.busbw_vs_size(run.collectives)
    open("busbw.png", "wb").write(plots.png(fig))
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullLocator

from scaling.config.units import format_size

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
# Topology labels from fastest to slowest link (nvidia-smi topo -m).
TOPO_ORDER = ["X", "NV", "PIX", "PXB", "PHB", "NODE", "SYS", "NET"]


def png(fig: Figure, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    FigureCanvasAgg(fig)  # attaches the Agg canvas: no pyplot, no global backend
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _figure(panels: int, width: float = 9.0, height: float = 3.6, cols: int = 2):
    cols = min(cols, panels)
    rows = math.ceil(panels / cols)
    fig = Figure(figsize=(width, height * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[panels:]:
        ax.set_visible(False)
    for ax in axes[:panels]:
        ax.grid(True, color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, axes[:panels]


def _world_size_axis(ax, sizes) -> None:
    sizes = sorted({int(s) for s in sizes})
    if len(sizes) > 1 and sizes[-1] / max(sizes[0], 1) >= 8:
        ax.set_xscale("log", base=2)
    ax.set_xticks(sizes)
    ax.set_xticklabels([str(s) for s in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("GPUs (ranks)")


def curve_label(row, with_workload: bool = True) -> str:
    """resnet50 · cpu-small · fp32 · 8/rank · weak: what distinguishes one scaling curve."""
    parts = [str(row["workload"])] if with_workload else []
    for key in ("preset", "precision"):
        if key in row and not pd.isna(row[key]):
            parts.append(str(row[key]))
    if row.get("scaling") == "strong" and not pd.isna(row.get("global_batch")):
        parts.append(f"global batch {int(row['global_batch'])}")
    elif not pd.isna(row.get("batch_per_rank")):
        parts.append(f"{int(row['batch_per_rank'])}/rank")
    if not pd.isna(row.get("scaling")):
        parts.append(str(row["scaling"]))
    return " · ".join(parts)


def _curves(table: pd.DataFrame):
    """(label, rows sorted by world size) per scaling curve, successful points only."""
    ok = table[table["status"] == "ok"] if "status" in table else table
    labels = ok.apply(curve_label, axis=1) if not ok.empty else pd.Series(dtype=str)
    for label in dict.fromkeys(labels):
        yield label, ok[labels == label].sort_values("world_size")


def throughput_vs_gpus(curves: pd.DataFrame) -> Figure | None:
    """Samples/s per world size with the ideal-linear line, one panel per training workload."""
    if curves.empty or not (curves["status"] == "ok").any():
        return None
    workloads = list(dict.fromkeys(curves["workload"]))
    fig, axes = _figure(len(workloads))
    for ax, workload in zip(axes, workloads, strict=True):
        sub = curves[curves["workload"] == workload]
        for i, (label, rows) in enumerate(_curves(sub)):
            c = COLORS[i % len(COLORS)]
            ax.plot(rows["world_size"], rows["samples_per_s"], "o-", color=c, label=label)
            ideal = rows.dropna(subset=["ideal_samples_per_s"])
            if not ideal.empty:
                ax.plot(
                    ideal["world_size"],
                    ideal["ideal_samples_per_s"],
                    "--",
                    color=c,
                    alpha=0.6,
                    label="ideal (n × 1-rank)",
                )
        _world_size_axis(ax, sub["world_size"])
        ax.set_ylim(bottom=0)
        ax.set_ylabel("samples/s (all ranks)")
        ax.set_title(f"{workload}: throughput vs GPUs", fontsize=11, loc="left")
        ax.legend(fontsize=8, frameon=False)
    return fig


def efficiency(curves: pd.DataFrame) -> Figure | None:
    """Scaling efficiency per world size, one line per curve; 100% is perfect scaling."""
    if curves.empty or curves["efficiency"].notna().sum() == 0:
        return None
    fig, (ax,) = _figure(1, width=9.0, height=3.4)
    top = 1.1
    for i, (label, rows) in enumerate(_curves(curves)):
        rows = rows.dropna(subset=["efficiency"])
        ax.plot(
            rows["world_size"],
            rows["efficiency"] * 100,
            "o-",
            color=COLORS[i % len(COLORS)],
            label=label,
        )
        top = max(top, rows["efficiency"].max() * 1.1 if not rows.empty else top)
    ax.axhline(100, color="#555555", linewidth=0.8, linestyle=":")
    _world_size_axis(ax, curves["world_size"])
    ax.set_ylim(0, top * 100)
    ax.set_ylabel("scaling efficiency (%)")
    ax.set_title("Scaling efficiency (100% = linear)", fontsize=11, loc="left")
    ax.legend(fontsize=8, frameon=False, loc="lower left")
    return fig


def busbw_vs_size(collectives: pd.DataFrame) -> Figure | None:
    """busbw vs message size, one line per world size (>1 rank), one panel per op and dtype.

    The link ceiling, when the hardware probe knew it, is a dashed line in the same color.
    """
    multi = collectives[collectives["world_size"] > 1] if not collectives.empty else collectives
    if multi.empty or multi["busbw_gbps"].notna().sum() == 0:
        return None
    panels = list(dict.fromkeys(zip(multi["op"], multi["dtype"], strict=True)))
    fig, axes = _figure(len(panels), height=3.4)
    for ax, (op, dtype) in zip(axes, panels, strict=True):
        sub = multi[(multi["op"] == op) & (multi["dtype"] == dtype)]
        colors = {}
        for i, n in enumerate(sorted(sub["world_size"].unique())):
            rows = sub[sub["world_size"] == n].sort_values("size_bytes")
            colors[n] = COLORS[i % len(COLORS)]
            ax.plot(
                rows["size_bytes"],
                rows["busbw_gbps"],
                "o-",
                ms=3,
                color=colors[n],
                label=f"{n} ranks",
            )
        top = sub["busbw_gbps"].max()
        for ceiling, link, sizes in _ceilings(sub):
            # one line per distinct ceiling; colored like its world size unless shared
            c = colors[sizes[0]] if len(sizes) == 1 else "#555555"
            who = "" if len(sizes) > 1 or len(colors) == 1 else f", {sizes[0]} ranks"
            ax.axhline(ceiling, color=c, linestyle="--", linewidth=1)
            ax.annotate(
                f"{link} ceiling {ceiling:g} GB/s{who}",
                (1.0, ceiling),
                xycoords=("axes fraction", "data"),
                xytext=(-2, 3),
                textcoords="offset points",
                ha="right",
                fontsize=7,
                color=c,
            )
            top = max(top, ceiling)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: format_size(int(x))))
        ax.set_xlabel("message size S")
        ax.set_ylabel("busbw (GB/s)")
        ax.set_ylim(0, top * 1.15)
        ax.set_title(f"{op} {dtype}: bus bandwidth", fontsize=11, loc="left")
        ax.legend(fontsize=8, frameon=False, loc="lower right")
    return fig


def _ceilings(sub: pd.DataFrame) -> list[tuple[float, str, list[int]]]:
    """(ceiling GB/s, link class, world sizes) per distinct ceiling the probe reported."""
    if "ceiling_gbps" not in sub:
        return []
    known = sub.dropna(subset=["ceiling_gbps"]).drop_duplicates("world_size")
    out: dict[float, tuple[str, list[int]]] = {}
    for r in known.to_dict(orient="records"):
        link = r.get("link_class") if not pd.isna(r.get("link_class")) else "link"
        out.setdefault(float(r["ceiling_gbps"]), (str(link), []))[1].append(int(r["world_size"]))
    return [(c, link, sizes) for c, (link, sizes) in out.items()]


def step_breakdown(training: pd.DataFrame) -> Figure | None:
    """Compute (t_local) and exposed communication (t_ddp - t_local) per world size, stacked."""
    if training.empty:
        return None
    ok = training[(training["status"] == "ok") & training["t_local_s"].notna()]
    if ok.empty:
        return None
    groups = list(_curves(ok))
    fig, axes = _figure(len(groups), height=3.2)
    for ax, (label, rows) in zip(axes, groups, strict=True):
        x = np.arange(len(rows))
        compute = rows["t_local_s"].to_numpy() * 1e3
        exposed = np.clip(rows["exposed_comm_s"].fillna(0).to_numpy() * 1e3, 0, None)
        ax.bar(x, compute, 0.6, color=COLORS[0], label="compute")
        ax.bar(x, exposed, 0.6, bottom=compute, color=COLORS[3], label="exposed comm")
        ax.plot(x, rows["t_ddp_s"] * 1e3, "k_", ms=22, mew=1.5, label="DDP step")
        ax.set_xticks(x)
        ax.set_xticklabels([str(int(n)) for n in rows["world_size"]])
        ax.set_xlabel("GPUs (ranks)")
        ax.set_ylabel("step time (ms)")
        ax.set_ylim(0, max(rows["t_ddp_s"].max() * 1e3, (compute + exposed).max()) * 1.3)
        ax.set_title(label, fontsize=10, loc="left")
        ax.legend(fontsize=7.5, frameon=False, loc="upper left", ncol=3)
    return fig


def per_rank_times(per_rank: pd.DataFrame, threshold: float = 1.10) -> Figure | None:
    """Each rank's median step time over the median rank's, per world size: stragglers stand up."""
    multi = per_rank[per_rank["world_size"] > 1] if not per_rank.empty else per_rank
    if multi.empty:
        return None
    workloads = list(dict.fromkeys(multi["workload"]))
    fig, axes = _figure(len(workloads), height=3.2)
    for ax, workload in zip(axes, workloads, strict=True):
        sub = multi[multi["workload"] == workload]
        for i, n in enumerate(sorted(sub["world_size"].unique())):
            rows = sub[sub["world_size"] == n].sort_values("rank")
            ax.plot(
                rows["rank"],
                rows["vs_median"],
                "o" if len(rows) > 16 else "o-",
                ms=4,
                color=COLORS[i % len(COLORS)],
                label=f"{n} ranks",
            )
        ax.axhline(threshold, color=COLORS[3], linestyle="--", linewidth=1)
        ax.annotate(
            f"straggler threshold {threshold:.2f}×",
            (0, threshold),
            xytext=(2, 3),
            textcoords="offset points",
            fontsize=7,
            color=COLORS[3],
        )
        phase = sub["phase"].iloc[0]
        ranks = sorted(sub["rank"].unique())
        if len(ranks) <= 16:
            ax.set_xticks(ranks)
        ax.set_xlabel("rank")
        ax.set_ylabel(f"{phase} time ÷ median rank")
        lo, hi = sub["vs_median"].min(), sub["vs_median"].max()
        ax.set_ylim(min(0.9, lo - 0.02), max(threshold + 0.05, hi + 0.02))
        ax.set_title(f"{workload}: per-rank {phase} time", fontsize=11, loc="left")
        ax.legend(fontsize=8, frameon=False, loc="upper left")
    return fig


def topology_heatmap(labels: list[str], matrix: list[list[str]], title: str) -> Figure:
    """The nvidia-smi topo -m matrix as a heatmap: darker is a faster link."""
    n = len(labels)
    rank = np.array([[_topo_rank(v) for v in row] for row in matrix], dtype=float)
    side = min(9.0, 1.2 + 0.55 * n)
    fig = Figure(figsize=(side + 1.0, side), layout="constrained")
    ax = fig.subplots()
    ax.imshow(len(TOPO_ORDER) - rank, cmap="Blues", vmin=0, vmax=len(TOPO_ORDER))
    for i in range(n):
        for j in range(n):
            dark = rank[i, j] <= 1
            ax.text(
                j,
                i,
                matrix[i][j],
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "black",
            )
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_title(title, fontsize=11, loc="left")
    return fig


def _topo_rank(label: str) -> int:
    label = str(label).upper()
    for i, prefix in enumerate(TOPO_ORDER):
        if label.startswith(prefix):
            return i
    return len(TOPO_ORDER) - 1
