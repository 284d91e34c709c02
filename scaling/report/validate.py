"""Validate, report layer (as cli/validate.py, config/validate.py): from validate.json alone.

The report's validation section, drawn from validate.json alone (so it works on recorded runs).

Nothing is judged here: every verdict, band and step comes from validate.json as written by
`scaling.sinks.validate_json`. The section holds the overall verdict, a count per check,
the table of what did not pass, GEMM throughput per GPU with the fleet's median band, the
GPU-pair bandwidth matrices, the localisation's steps, and the thresholds with sources.

    from scaling.report.validate import document
    doc = document("runs/...")            # the section as a document of its own
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from scaling import format as f
from scaling.collector.validate.codes import FAIL, METRICS, PASS, WARN
from scaling.collector.validate.verdicts import ValidateResult, Verdict
from scaling.report.document import Document, Items, Section, Table, Text, add_figure

VALIDATE_JSON = "validate.json"
MAX_ROWS = 200
MAX_STEPS = 80
MAX_BARS = 64
MAX_HEATMAPS = 4
LEVEL = {PASS: "pass", WARN: "warn", FAIL: "fail"}


def load(run_dir: str | Path) -> ValidateResult | None:
    from scaling.sinks.validate_json import read

    path = Path(run_dir) / VALIDATE_JSON
    return read(path) if path.exists() else None


def section(run_dir: str | Path) -> Section | None:
    """The section, or None when the run has no validate.json."""
    try:
        result = load(run_dir)
    except (ValueError, KeyError, TypeError) as e:  # hand-edited, truncated or another schema
        s = Section("Cluster validation", "validate")
        s.blocks.append(
            Text(f"{VALIDATE_JSON} could not be read ({type(e).__name__}: {e}).", "note")
        )
        return s
    return None if result is None else build(result)


def document(run_dir: str | Path) -> Document:
    """The validation section as a report of its own (for a run that only validated)."""
    s = section(run_dir)
    if s is None:
        s = Section("Cluster validation", "validate", [Text(f"No {VALIDATE_JSON} here.", "note")])
    return Document(f"Validation report: {Path(run_dir).name}", "scaling validate", None, [s])


def build(result: ValidateResult) -> Section:
    s = Section("Cluster validation", "validate")
    s.blocks += _verdict_blocks(result)
    add_figure(s, "validate_gemm", gemm_plot(result.verdicts), _gemm_caption(result.verdicts))
    for i, (node, fig) in enumerate(pairwise_plots(result.verdicts)):
        add_figure(s, f"validate_p2p_{i}", fig, f"GPU-pair bandwidth on {node}, GB/s, each "
                   "direction; a pair is judged on its slower one, and FAILed pairs are outlined.")  # fmt: skip
    s.blocks += localization_blocks(result.localization)
    s.blocks += threshold_blocks(result.thresholds)
    return s


# -- verdicts ---------------------------------------------------------------------------------


def _verdict_blocks(result: ValidateResult) -> list:
    counts = result.counts()
    gpus = sum(len(n.get("gpus", [])) for n in result.nodes)
    unit = (
        "CPU ranks"
        if result.nodes and all(n.get("device") == "cpu" for n in result.nodes)
        else "GPUs"
    )
    head = (
        f"**{result.status}** (exit code {result.exit_code}): {counts[PASS]:,} PASS, "
        f"{counts[WARN]:,} WARN, {counts[FAIL]:,} FAIL over {len(result.nodes):,} nodes "
        f"and {gpus:,} {unit}. Written {result.created or 'at an unknown time'}."
    )
    blocks: list = [Text(head)]
    bad = sorted(h for h, v in result.node_verdicts().items() if v == FAIL)
    if bad:
        blocks.append(Items([("fail", f"nodes to drain (bad_nodes.txt): {', '.join(bad)}")]))
    blocks.append(Table(["check", "what", "PASS", "WARN", "FAIL"], _per_check(result.verdicts),
                        "Verdicts per check.", align_left=2))  # fmt: skip
    shown = sorted((v for v in result.verdicts if v.verdict != PASS), key=_severity_order)
    if shown:
        rows = [_row(v) for v in shown[:MAX_ROWS]]
        blocks.append(Table(["verdict", "code", "subject", "check", "evidence", "measured",
                             "threshold"], rows, "Everything that did not pass.", align_left=5))  # fmt: skip
        if len(shown) > MAX_ROWS:
            blocks.append(
                Text(f"... and {len(shown) - MAX_ROWS:,} more in {VALIDATE_JSON}.", "note")
            )
    else:
        blocks.append(Text("Every check passed.", "note"))
    return blocks


def _per_check(verdicts: list[Verdict]) -> list[list[str]]:
    by = defaultdict(Counter)
    for v in verdicts:
        by[v.check][v.verdict] += 1
    rows = []
    for check, c in sorted(by.items()):
        what = METRICS[check].what if check in METRICS else ""
        rows.append([check, what, f"{c[PASS]:,}", f"{c[WARN]:,}", f"{c[FAIL]:,}"])
    return rows


def _severity_order(v: Verdict) -> tuple:
    return (v.verdict != FAIL, v.check, v.node, v.gpu if v.gpu is not None else -1)


def _row(v: Verdict) -> list[str]:
    unit = f" {v.unit}" if v.unit else ""
    if v.value is not None:
        measured = f.sig(v.value) + unit
    else:  # a digest or a group test has no figure of its own; only a lost one is "not measured"
        measured = f.na("not measured") if v.code == "NO_MEASUREMENT" else ""
    threshold = "" if v.threshold is None else f"≥ {f.sig(v.threshold)}{unit}"
    return [v.verdict, v.code or "", v.subject, v.check, v.evidence, measured, threshold]


# -- plots ------------------------------------------------------------------------------------


def _gemm_caption(verdicts: list[Verdict]) -> str:
    units = {v.unit for v in verdicts if v.check == "gemm" and v.unit}
    return (
        f"Dense GEMM throughput per GPU ({', '.join(units) or 'TFLOP/s'}). Shaded: the fleet band "
        "median ± max(k·MAD, min %) per GPU model, line: its median; dashed: the minimum "
        "fraction of the datasheet peak; red bars FAILed, orange WARNed; beyond 64 GPUs, GPUs "
        "are sorted by throughput."
    )


def gemm_plot(verdicts: list[Verdict]):
    from scaling.report.plots import _figure

    gemm = [v for v in verdicts if v.check == "gemm" and v.scope == "gpu" and v.value is not None]
    if not gemm:
        return None
    many = len(gemm) > MAX_BARS
    gemm = sorted(gemm, key=lambda v: v.value) if many else gemm
    fig, (ax,) = _figure(
        1, width=min(11.0, 4 + 0.18 * min(len(gemm), MAX_BARS)), height=3.6, cols=1
    )
    colors = {PASS: "#1f77b4", WARN: "#ff7f0e", FAIL: "#d62728"}
    xs = range(len(gemm))
    if many:
        ax.scatter(xs, [v.value for v in gemm], s=6, c=[colors[v.verdict] for v in gemm])
        ax.set_xlabel(f"{len(gemm):,} GPUs, sorted by throughput")
    else:
        ax.bar(xs, [v.value for v in gemm], color=[colors[v.verdict] for v in gemm])
        ax.set_xticks(list(xs), [f"{v.node}:{v.gpu}" for v in gemm], rotation=90, fontsize=6)
    for band in {tuple(sorted(v.details["fleet"].items())) for v in gemm if v.details.get("fleet")}:
        b = dict(band)
        ax.axhspan(b["low"], b["high"], color="#2ca02c", alpha=0.25, linewidth=0, zorder=3)
        ax.axhline(b["median"], color="#2ca02c", linewidth=1, zorder=3)
    peaks = {c["bound"] for v in gemm for c in v.details.get("criteria", [])
             if c["rule"] == "peak" and c["bound"] is not None}  # fmt: skip
    for bound in peaks:
        ax.axhline(bound, color="#555555", linewidth=1, linestyle="--", zorder=3)
    ax.set_ylabel(gemm[0].unit or "TFLOP/s")
    return fig


def pair_matrices(verdicts: list[Verdict]) -> dict[str, tuple[list[int], dict]]:
    """node -> (its GPU indices, {(i, j): (GB/s i->j, FAILed)}) from the p2p link verdicts."""
    out: dict[str, tuple[set, dict]] = {}
    for v in verdicts:
        if v.check != "p2p" or v.scope != "link" or v.peer_gpu is None:
            continue
        gpus, cells = out.setdefault(v.node, (set(), {}))
        gpus.update((v.gpu, v.peer_gpu))
        failed = v.verdict == FAIL
        cells[(v.gpu, v.peer_gpu)] = (v.details.get("forward_gbps"), failed)
        cells[(v.peer_gpu, v.gpu)] = (v.details.get("backward_gbps"), failed)
    return {node: (sorted(g), cells) for node, (g, cells) in out.items()}


def pairwise_plots(verdicts: list[Verdict]) -> list[tuple[str, object]]:
    """Heatmaps for the nodes with a failing pair (or the first node), at most MAX_HEATMAPS."""
    import numpy as np

    from scaling.report.plots import _figure

    mats = pair_matrices(verdicts)
    failing = [n for n, (_, cells) in mats.items() if any(bad for _, bad in cells.values())]
    nodes = (failing or list(mats)[:1])[:MAX_HEATMAPS]
    out = []
    for node in nodes:
        gpus, cells = mats[node]
        idx = {g: i for i, g in enumerate(gpus)}
        grid = np.full((len(gpus), len(gpus)), np.nan)
        for (i, j), (value, _) in cells.items():
            grid[idx[i], idx[j]] = np.nan if value is None else value
        fig, (ax,) = _figure(1, width=1.6 + 0.55 * len(gpus), height=1.2 + 0.5 * len(gpus), cols=1)
        ax.grid(False)
        im = ax.imshow(grid, cmap="viridis")
        fig.colorbar(im, ax=ax, label="GB/s")
        middle = np.nanmean([np.nanmin(grid), np.nanmax(grid)]) if np.isfinite(grid).any() else 0
        for (i, j), (value, bad) in cells.items():
            text = "n/a" if value is None else f"{value:.0f}"
            dark = value is not None and value > middle  # viridis is bright at the top
            ax.text(idx[j], idx[i], text, ha="center", va="center", fontsize=7,
                    color="black" if dark else "white", fontweight="bold" if bad else "normal")  # fmt: skip
            if bad:
                ax.add_patch(_outline(idx[j], idx[i]))
        ax.set_xticks(range(len(gpus)), [f"GPU{g}" for g in gpus], fontsize=7)
        ax.set_yticks(range(len(gpus)), [f"GPU{g}" for g in gpus], fontsize=7)
        ax.set_xlabel("to")
        ax.set_ylabel("from")
        out.append((node, fig))
    return out


def _outline(x: float, y: float):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor="#d62728", linewidth=2)


# -- localisation and thresholds --------------------------------------------------------------


def localization_blocks(loc: dict | None) -> list:
    if not loc:
        return []
    blocks: list = [Text("Localisation across nodes", "h3")]
    n = len(loc["nodes"])
    if loc["mode"] == "single node":
        return blocks + [Text("One node: no inter-node test to run.", "note")]
    timing = loc.get("timing", "measured")
    blocks.append(Text(
        f"{loc['mode']}: {loc['tests']} group tests in {loc['rounds']} rounds, "
        f"{f.sig(loc['wall_s'])} s wall time ({f.sig(loc['test_s'])} s of tests; {timing}), for "
        f"{n:,} nodes; testing every pair would take {loc['exhaustive_pairs']:,} tests."
    ))  # fmt: skip
    blocks += _coverage(loc)
    findings = [(LEVEL[x["verdict"]], f"{x['code']}: {x['evidence']}") for x in loc["findings"]]
    blocks.append(Items(findings or [("pass", "no fault found between nodes")]))
    rows = [_step_row(s) for s in loc["steps"][:MAX_STEPS]]
    blocks.append(Table(["step", "round", "phase", "nodes", "result", "why", "value", "seconds"],
                        rows, "Every group test, in order.", align_left=6))  # fmt: skip
    if len(loc["steps"]) > MAX_STEPS:
        blocks.append(
            Text(f"... and {len(loc['steps']) - MAX_STEPS} more steps in {VALIDATE_JSON}.", "note")
        )
    return blocks


def _coverage(loc: dict) -> list:
    """Which node pairs the tests crossed (all_to_all: every pair of a group; all_reduce: a bad
    link shows only where its ends are ring neighbours) and how many tests were the reference;
    absent from runs recorded before."""
    if not loc.get("rings_needed"):
        return []
    ref = loc.get("reference_tests") or 0
    if loc.get("op") == "all_to_all":
        text = ("Group tests were all_to_alls: each crosses every pair of its nodes, so one "
                "screen of every node tests every pair; the ends of a bad link found were "
                "tested with the others afterwards."
                + (f" The tests include {ref} node-pair reference test{'s' * (ref != 1)} run to set the bar." if ref else ""))  # fmt: skip
        return [Text(text, "note")]
    text = (f"{loc['rings_tested']} of {loc['rings_needed']} ring orders screened; "
            + ("every pair of nodes was tested (ring neighbours in a screen, or as a pair)."
               if loc.get("every_pair_tested") else
               "not every pair of nodes was ring neighbours in a tested ring: a bad link "
               "between two that never were would have passed unseen ([validate] ring_orders).")
            + (f" The tests include {ref} node-pair reference test{'s' * (ref != 1)} run to set the bar." if ref else ""))  # fmt: skip
    return [Text(text, "note")]


def _nodes_text(nodes: list[str]) -> str:
    return (
        ", ".join(nodes) if len(nodes) <= 4 else f"{len(nodes):,} nodes ({nodes[0]} … {nodes[-1]})"
    )


def _step_row(s: dict) -> list[str]:
    result = "pass" if s["passed"] else "FAIL"
    if s["missing"]:
        result += f" (no answer: {', '.join(s['missing'])})"
    return [str(s["index"]), str(s["round"]), s["phase"], _nodes_text(s["nodes"]), result,
            s["why"], f.sig(s["value"], why="none"), f.sig(s["duration_s"], why="unknown")]  # fmt: skip


def threshold_blocks(thresholds: dict) -> list:
    if not thresholds:
        return []
    rows = []
    for model, table in thresholds.get("by_model", {}).items():
        for key, t in table.items():
            value = f.na() if t["value"] is None else f.sig(t["value"])
            rows.append([model, key, t["source"], value])
    cfg = thresholds.get("config", {})
    rules = ", ".join(f"{k} = {v}" for k, v in cfg.items() if v is not None)
    blocks: list = [Text("Thresholds", "h3")]
    if rules:
        blocks.append(Text(f"[validate]: {rules}.", "note"))
    if rows:
        blocks.append(Table(["GPU model", "minimum", "source", "GB/s"], rows, align_left=3))
    return blocks
