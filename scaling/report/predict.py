"""Predict, report layer (cli/predict.py writes predict.json): the report's prediction section.

The report's prediction section, read from predict.json (written by `scaling predict`).

Nothing is computed here: predict.json holds every figure. The same rows feed the terminal
output of `scaling predict` and the report, so the two always say the same thing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from scaling import format as f
from scaling.collector.predict.startup_law import lines as startup_lines
from scaling.report.document import Items, Section, Table, Text, add_figure

PREDICT_JSON = "predict.json"
CAVEAT = (
    "Model outputs, not measurements. [a–b]: 90% bootstrap interval over the measured "
    "iterations (measurement noise only). The model's own error is the holdout error: the "
    "largest measured world size predicted from the others."
)
STEP_COLUMNS = ["n", "nodes", "step (ms) [90%]", "samples/s [90%]", "efficiency [90%]", "dominant"]
COLL_COLUMNS = ["n", "span", "size", "time (µs) [90%]", "busbw (GB/s) [90%]", "dominant", "holdout"]


def load(run_dir: str | Path) -> dict | None:
    path = Path(run_dir) / PREDICT_JSON
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _with_interval(value, iv, fmt) -> str:
    if value is None:
        return f.na()
    text = fmt(value)
    if iv and iv[0] is not None and iv[1] is not None:
        text += f" [{fmt(iv[0])}–{fmt(iv[1])}]"
    return text


def step_rows(rows: list[dict]) -> list[list[str]]:
    out = []
    for r in rows:
        if "step_s" not in r:
            out.append([str(r["n"]), str(r["nodes"]), f.na(r.get("reason")), "", "", ""])
            continue
        out.append(
            [
                f"{r['n']:,}",
                f"{r['nodes']:,}",
                _with_interval(r["step_s"], r.get("step_s_interval"), lambda v: f.sig(v * 1e3)),
                _with_interval(r["throughput"], r.get("throughput_interval"), f.sig),
                _with_interval(
                    r["efficiency"], r.get("efficiency_interval"), lambda v: f.pct(v, 0)
                ),
                r["dominant"],
            ]
        )
    return out


def crossing_text(crossings: dict) -> list[str]:
    lines = []
    for key, c in crossings.items():
        thr = f"{float(key):.0%}"
        if c.get("n") is None:
            lines.append(f"efficiency stays ≥ {thr}: {c.get('note', '')}")
            continue
        iv = c.get("n_interval")
        band = ""
        if iv:
            lo = "?" if iv[0] is None else f"{int(iv[0]):,}"
            hi = f"> {int(c['searched_to']):,}" if iv[1] is None else f"{int(iv[1]):,}"
            band = f" [{lo}–{hi}]"
        lines.append(f"efficiency falls below {thr} at n = {int(c['n']):,}{band}")
    return lines


def holdout_text(h: dict | None) -> str:
    if not h:
        return "holdout: none"
    if h.get("status") != "validated":
        return f"UNVALIDATED: {h.get('reason')}"
    fitted = ", ".join(map(str, h["fitted_on"]))
    if "step_error_pct" in h:
        text = (
            f"holdout: n={h['held_out_n']} predicted from n={fitted}: step "
            f"{f.sig(h['step_predicted_s'] * 1e3)} ms vs {f.sig(h['step_measured_s'] * 1e3)} ms "
            f"measured, error {h['step_error_pct']:+.1f}%"
        )
        if h.get("efficiency_measured") is not None:
            text += (
                f"; efficiency {f.pct(h['efficiency_predicted'], 0)} vs "
                f"{f.pct(h['efficiency_measured'], 0)}"
            )
        return text
    return (
        f"holdout: n={h['held_out_n']} predicted from n={fitted}: plateau error "
        f"{h['plateau_error_pct']:.1f}% (bias {h['plateau_bias_pct']:+.1f}%, "
        f"{f.size(h['plateau_sizes_bytes'][0])}–{f.size(h['plateau_sizes_bytes'][1])}); "
        f"all {h['sizes']} sizes: median {h['all_sizes_median_error_pct']:.1f}%, "
        f"max {h['all_sizes_max_error_pct']:.1f}%"
    )


def training_summary(t: dict) -> list[str]:
    if "unavailable" in t:
        return [f"n/a: {t['unavailable']}"]
    overlap = t.get("overlap_measured")
    ov = (
        "n/a"
        if overlap is None or (isinstance(overlap, float) and math.isnan(overlap))
        else f.pct(overlap, 0)
    )
    lines = [
        f"compute {f.sig(t['compute_s'] * 1e3)} ms (t_local at n={t['reference_n']}); "
        f"exposure {t['exposure']:.2f} of the modelled bucket all-reduce "
        f"(measured overlap {ov}); {t['buckets']['note']}; all_reduce model: {t['all_reduce_model']}",
        holdout_text(t.get("holdout")),
    ]
    return lines + t.get("notes", [])


def fit_lines(entry: dict) -> list[str]:
    lines = []
    for span, fit in entry["fits"].items():
        big = fit["segments"][-1]["busbw_gbps"]
        bw = f"{f.sig(big)} GB/s" if big else f.na("no size dependence measured")
        ns = ", ".join(map(str, fit["world_sizes"]))
        lines.append(
            f"{span}, n = {ns}: large-message busbw {bw}; "
            f"alpha(n): {fit['law_reason']}; {fit['change_point_reason']}; "
            f"fit error {fit['fit_rel_rms_pct']:.1f}% RMS"
        )
        lines.append(f"{span}: {holdout_text(fit['holdout'])}")
    return lines


def collective_rows(rows: list[dict]) -> list[list[str]]:
    out = []
    for r in rows:
        head = [f"{r['n']:,}", r["span"], f.size(r["size_bytes"])]
        if r.get("time_us") is None:
            out.append(head + [f.na(r.get("reason")), "", "", ""])
            continue
        checked = r.get("validation", "")
        if checked.startswith("validated"):
            checked = checked.split(", ", 1)[-1]  # "plateau error 3.1%"
        else:
            checked = checked.split(":")[0]
        out.append(
            head
            + [
                _with_interval(r["time_us"], r.get("time_us_interval"), f.sig),
                _with_interval(r["busbw_gbps"], r.get("busbw_gbps_interval"), f.sig),
                r["dominant"],
                checked,
            ]
        )
    return out


def section(run_dir: str | Path) -> Section | None:
    """The section, or None when the run has no predict.json."""
    try:
        doc = load(run_dir)
        return None if doc is None else _section(doc)
    except _DAMAGE as e:
        s = Section("Predicted beyond what was measured", "predict")
        s.blocks.append(Text(_why(e), kind="note"))
        return s


def problem(run_dir: str | Path) -> str | None:
    """Why the run's predict.json cannot be shown (a line for stderr), or None."""
    try:
        doc = load(run_dir)
        if doc is not None:
            _section(doc)
    except _DAMAGE as e:
        return _why(e)
    return None


# A hand-edited, damaged or older predict.json (ValueError: not JSON, not UTF-8).
_DAMAGE = (ValueError, KeyError, TypeError, AttributeError, RecursionError)


def _why(e: Exception) -> str:
    return f"{PREDICT_JSON} could not be read ({type(e).__name__}: {e}); rerun `scaling predict`."


def _section(doc: dict) -> Section:
    s = Section("Predicted beyond what was measured", "predict")
    s.blocks.append(Text(CAVEAT, kind="note"))
    s.blocks.append(
        Text(
            f"Targets {', '.join(map(str, doc['targets']))}; {doc['gpus_per_node']} ranks per node "
            f"({doc['gpus_per_node_source']}). Written {doc['created']}."
        )
    )
    if doc.get("training"):
        add_figure(s, "predicted_efficiency", efficiency_plot(doc), "Measured (dots) and predicted "
                   "(squares, 90% bootstrap interval) scaling efficiency.")  # fmt: skip
    started = startup_lines(doc.get("startup"))  # absent in older predict.json files
    if started:
        s.blocks.append(Items([("", line.strip()) for line in started]))
    for t in doc.get("training", []):
        s.blocks.append(Text(t["label"], kind="h3"))
        s.blocks.append(Items([("", line) for line in training_summary(t)]))
        if "predictions" in t:
            s.blocks.append(Table(STEP_COLUMNS, step_rows(t["predictions"]), align_left=2))
            s.blocks.append(Items([("", line) for line in crossing_text(t["crossings"])]))
        if t.get("what_if"):
            w = t["what_if"]
            s.blocks.append(Text(f"What if {w['replaced']}", kind="h3"))
            s.blocks.append(Table(STEP_COLUMNS, step_rows(w["predictions"]), align_left=2))
            s.blocks.append(
                Items([("", line) for line in crossing_text(w["crossings"]) + w["notes"]])
            )
    for c in doc.get("collectives", []):
        s.blocks.append(Text(f"{c['op']} · {c['dtype']} · {c['timing']}", kind="h3"))
        s.blocks.append(Items([("", line) for line in fit_lines(c)]))
        s.blocks.append(Table(COLL_COLUMNS, collective_rows(c["predictions"]), align_left=3))
    return s


def efficiency_plot(doc: dict):
    from scaling.report.plots import COLORS, _figure, _world_size_axis

    curves = [t for t in doc.get("training", []) if "predictions" in t]
    if not curves:
        return None
    fig, (ax,) = _figure(1, width=7.5, height=3.8, cols=1)
    sizes = []
    for i, t in enumerate(curves):
        color = COLORS[i % len(COLORS)]
        meas = [(r["n"], r["efficiency"]) for r in t["measured"] if r.get("efficiency") is not None]
        pred = [r for r in t["predictions"] if r.get("efficiency") is not None]
        if meas:
            ax.plot(*zip(*meas, strict=True), "o-", color=color, label=f"{t['label']} measured")
        if pred:
            ns = [r["n"] for r in pred]
            eff = [r["efficiency"] for r in pred]
            iv = [r.get("efficiency_interval") or [r["efficiency"]] * 2 for r in pred]
            err = [[e - lo for e, (lo, _) in zip(eff, iv, strict=True)],
                   [hi - e for e, (_, hi) in zip(eff, iv, strict=True)]]  # fmt: skip
            ax.errorbar(ns, eff, yerr=err, fmt="s--", color=color, alpha=0.8, capsize=3,
                        label=f"{t['label']} predicted")  # fmt: skip
        sizes += [n for n, _ in meas] + [r["n"] for r in pred]
    for y in (0.9, 0.75):
        ax.axhline(y, color="#999999", linewidth=0.8, linestyle=":")
    ax.set_xscale("log", base=2)  # before the ticks: predictions span decades of n
    _world_size_axis(ax, sizes)
    ax.set_ylabel("scaling efficiency")
    ax.legend(fontsize=7)
    return fig
