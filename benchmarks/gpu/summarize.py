"""The GPU kit's summary: each step's status, the figures it measured, and the kit's goals
(the GPU-path figures come from gpu_path.py).

check.sh calls it on its work directory (steps.tsv, each step's JSON and log, the run
directories) and it writes summary.txt and figures.json into the output folder. Every
figure comes from a file of this run; goals and public anchors are labelled as such, and a
goal is judged only where the run matches its conditions (CUDA, the preset, bf16).

    python benchmarks/gpu/summarize.py /tmp/gpukit-work.XXXX --device cuda --out $OUT
"""

from __future__ import annotations

import argparse
import json
import math
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import gpu_path  # benchmarks/gpu/gpu_path.py: the GPU path's figures

# Goals are targets; references are public figures, not measured here.
RESNET_GOAL = 3000.0
RESNET_ANCHOR = 2616.0
RESNET_ANCHOR_WHAT = "NVIDIA NGC DeepLearningExamples ResNet-50 v1.5, H100 SXM, fp16 AMP"
MFU_GOAL = 0.45
MFU_ANCHOR_WHAT = "nanoGPT reaches about 40-50% on an A100 with torch.compile"
H2D_GOAL = 0.85
FIDELITY_GOAL = 1.03


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not math.isnan(float(x)) else None


def _fmt(x: Any, spec: str = ".3g", unit: str = "") -> str:
    x = _num(x)
    return "n/a" if x is None else f"{x:{spec}}{unit}"


def _size(n: Any) -> str:
    n = _num(n)
    if n is None:
        return "n/a"
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):g} {unit}"
    return f"{n:g} B"


def read_steps(work: Path) -> list[dict]:
    steps = []
    lines = (work / "steps.tsv").read_text().splitlines() if (work / "steps.tsv").exists() else []
    for line in lines:
        name, status, rc, secs, note = (line.split("\t") + [""] * 5)[:5]
        log = work / "logs" / f"{name}.log"
        last = ""
        if status not in ("ok", "skipped") and log.exists():
            tail = [x for x in log.read_text(errors="replace").splitlines() if x.strip()]
            last = tail[-1].strip()[:200] if tail else ""
        steps.append(
            {"name": name, "status": status, "exit": int(rc) if rc.isdigit() else None,
             "seconds": float(secs or 0), "note": note or last}
        )  # fmt: skip
    return steps


def environment(work: Path, run: dict | None, topo: dict | None) -> dict:
    env: dict[str, Any] = {}
    snap = next(iter((topo or {}).get("nodes", {}).values()), {}).get("snapshot", {})
    if snap:
        env["driver"] = snap.get("nvml", {}).get("driver_version")
        gpus = snap.get("gpus") or []
        env["gpu"] = gpus[0].get("name") if gpus else None
        env["host"] = snap.get("host", {}).get("hostname")
    manifest = _load_json(Path(run["run_dir"]) / "manifest.json") if run else None
    if manifest and manifest.get("ranks"):
        r = manifest["ranks"][0]
        env.update({k: r.get(k) for k in ("torch", "cuda", "nccl")})
        env["gpu"] = env.get("gpu") or r.get("gpu_name")
        env["backend"] = manifest.get("backend")
    env["stale_wheel"] = (work / "stale-wheel").exists()
    return env


def training_row(run: dict | None, workload: str) -> dict | None:
    rows = [r for r in (run or {}).get("training", []) if r.get("workload") == workload]
    return next((r for r in rows if r.get("world_size") == 1), None)


def collective_row(run: dict | None) -> dict | None:
    rows = [r for r in (run or {}).get("summary", []) if r.get("group", "world") == "world"]
    return max(rows, key=lambda r: r.get("size_bytes") or 0, default=None)


def h2d_row(topo: dict | None) -> dict | None:
    rows = ((topo or {}).get("transfers") or {}).get("vs_ceiling") or []
    return next((r for r in rows if r.get("test") == "h2d"), None)


def pytest_counts(work: Path) -> dict | None:
    try:
        root = ET.parse(work / "pytest-gpu.xml").getroot()
    except (OSError, ET.ParseError):
        return None
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    c = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    c["passed"] = c["tests"] - c["failures"] - c["errors"] - c["skipped"]
    return c


def _goal(name, measured, unit, target, reference, judged_why, meets) -> dict:
    """One goal row. judged_why: None when the run matches the goal's conditions, else why not."""
    if judged_why:
        verdict, why = "n/a", judged_why
    elif measured is None:
        verdict, why = "n/a", "no figure from this run: see the steps and figures above"
    else:
        verdict, why = ("meets" if meets(measured) else "below goal"), None
    return {"goal": name, "measured": measured, "unit": unit, "target": target,
            "reference": reference, "verdict": verdict, "why": why}  # fmt: skip


def _mismatch(row: dict | None, workload: str, preset: str) -> str | None:
    """Why a training goal cannot be judged on this row (None: it can, or there is no row)."""
    if row and (row.get("preset"), row.get("precision")) != (preset, "bf16"):
        return f"the run was not {workload} {preset} bf16"
    return None


def goals(device: str, run: dict | None, topo: dict | None, fidelity: dict | None) -> list[dict]:
    out = []
    cpu = None if device == "cuda" else "cpu dry run: the goals are for a GPU"
    r = training_row(run, "resnet50")
    cond = cpu or _mismatch(r, "resnet50", "imagenet")
    out.append(_goal(
        "ResNet-50 training, synthetic, bf16, channels_last, 1 GPU", _num((r or {}).get("samples_per_s")),
        "images/s", f">= {RESNET_GOAL:g} (stated for an H100)",
        f"{RESNET_ANCHOR:g} images/s, {RESNET_ANCHOR_WHAT} (public anchor, not measured here)",
        cond, lambda v: v >= RESNET_GOAL,
    ))  # fmt: skip
    t = training_row(run, "transformer")
    cond = cpu or _mismatch(t, "transformer", "gpt2-medium")
    out.append(_goal(
        "gpt2-medium transformer, bf16: MFU", _num((t or {}).get("mfu")), "of peak dense bf16",
        f">= {MFU_GOAL:.0%}", f"{MFU_ANCHOR_WHAT} (public, not measured here)",
        cond, lambda v: v >= MFU_GOAL,
    ))  # fmt: skip
    h = h2d_row(topo) or {}
    transfers = (topo or {}).get("transfers") or {}
    unmeasured = (transfers.get("result") or {}).get("reason") or (
        None if topo else "the topo step gave no result"
    )
    out.append(_goal(
        "H2D pinned copy / PCIe ceiling the probe reports", _num(h.get("ratio")), "of ceiling",
        f">= {H2D_GOAL:g}",
        f"ceiling {_fmt(h.get('ceiling_gbps'), '.1f', ' GB/s')} ({h.get('link', 'link unknown')}:"
        " theoretical, not measured)", unmeasured or cpu, lambda v: v >= H2D_GOAL,
    ))  # fmt: skip
    for w in ("resnet50", "transformer"):
        f = (fidelity or {}).get(w) or {}
        out.append(_goal(
            f"harness overhead, {w} (scaling step / plain loop step)", _num(f.get("ratio")),
            "ratio", f"<= {FIDELITY_GOAL:g} on GPU",
            f"plain loop {_fmt(f.get('plain_step_ms'), '.2f', ' ms')} measured in this run",
            cpu, lambda v: v <= FIDELITY_GOAL,
        ))  # fmt: skip
    return out


def figures(work: Path, run, topo, fidelity, multirank) -> dict:
    doctor = _load_json(work / "doctor.json") or {}
    coll = collective_row(run) or {}
    h = {r["test"]: r for r in ((topo or {}).get("transfers") or {}).get("vs_ceiling") or []}
    snap = next(iter((topo or {}).get("nodes", {}).values()), {}).get("snapshot", {})

    def train(w):
        row = training_row(run, w) or {}
        keys = ("preset", "precision", "batch_per_rank", "status", "samples_per_s",
                "tokens_per_s", "step_time_p50_s", "achieved_tflops", "mfu", "power_w",
                "gpu_util_pct", "peak_mem_bytes_max")  # fmt: skip
        return {k: row.get(k) for k in keys} if row else None

    return {
        "doctor": {"status": doctor.get("status"), "counts": doctor.get("counts")},
        "load_ran": (snap.get("load") or {}).get("ran"),
        "transfers_gbps": {k: h[k]["measured_gbps"] for k in ("h2d", "d2h", "d2d") if k in h},
        "pcie": {k: (h.get("h2d") or {}).get(k) for k in ("link", "ceiling_gbps", "ratio")},
        "all_reduce_largest": {
            k: coll.get(k) for k in ("size_bytes", "dtype", "algbw_gbps", "time_p50_us", "wrong")
        },
        "resnet50": train("resnet50"),
        "transformer": train("transformer"),
        "fidelity": {
            w: {k: (fidelity or {}).get(w, {}).get(k) for k in ("ratio", "plain_step_ms", "scaling_step_ms")}
            for w in ("resnet50", "transformer")
        },
        "multirank": {
            "status": (multirank or {}).get("status"),
            "error": (multirank or {}).get("error"),
            "collective_points": len((multirank or {}).get("summary", [])),
            "collective_wrong": sum(
                int(r.get("wrong") or 0) for r in (multirank or {}).get("summary", [])
            ),
            "training": [
                {k: r.get(k) for k in ("workload", "world_size", "status", "consistent")}
                for r in (multirank or {}).get("training", [])
            ],
        },
        "pytest_gpu": pytest_counts(work),
        "false_alarms": false_alarm_rates(_load_json(work / "false-alarms.json")),
    }  # fmt: skip


def false_alarm_rates(r: dict | None) -> dict | None:
    """compare_false_alarms.py's rates (run sets and single runs), when the false_alarms step
    ran."""
    if not r or "sets" not in r:
        return None
    sets, single = r["sets"], r.get("single") or {}
    return {
        "set_size": sets.get("size"),
        "sets_false_alarm_rate": (sets.get("false_alarms") or {}).get("rate"),
        "sets_class25_caught": (sets.get("class25") or {}).get("rate"),
        "sets_uniform25_caught": (sets.get("uniform25") or {}).get("rate"),
        "single_false_alarm_rate": (single.get("same") or {}).get("regression_rate"),
        "single_undecided_share": (single.get("same") or {}).get("undecided_share"),
        "wall_s": (r.get("run_time_s") or {}).get("wall_median_s"),
    }


def render_steps(device: str, env: dict, steps: list[dict]) -> list[str]:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    head = f"scaling GPU kit, {when}: device {device}" + (
        f", {env['gpu']}" if env.get("gpu") else ""
    )
    vers = ", ".join(f"{k} {env[k]}" for k in ("driver", "torch", "cuda", "nccl") if env.get(k))
    lines = [head + (f" ({vers})" if vers else ""), ""]
    if env.get("stale_wheel"):
        lines += ["note: the carried scaling wheel was older than the checkout, which ran", ""]
    lines.append("steps")
    for s in steps:
        row = f"  {s['name']:10s} {s['status']:11s} {s['seconds']:6.1f} s  {s['note']}"
        lines.append(row.rstrip())
    return lines


def render_figures(figs: dict) -> list[str]:
    c, x, m, p = (
        figs[k] for k in ("all_reduce_largest", "transfers_gbps", "multirank", "pytest_gpu")
    )
    lines = ["", "measured in this run"]
    doctor = figs["doctor"]
    lines.append(f"  doctor: {doctor['status'] or 'n/a'} {doctor['counts'] or ''}".rstrip())
    lines.append(
        f"  copies (GB/s): H2D {_fmt(x.get('h2d'))}, D2H {_fmt(x.get('d2h'))},"
        f" D2D {_fmt(x.get('d2d'))}; link {figs['pcie'].get('link') or 'n/a'};"
        f" PCIe probed under load: {figs['load_ran']}"
    )
    lines.append(
        f"  all_reduce, 1 rank, {_size(c.get('size_bytes'))} {c.get('dtype') or ''}:"
        f" algbw {_fmt(c.get('algbw_gbps'), '.4g', ' GB/s')},"
        f" p50 {_fmt(c.get('time_p50_us'), '.4g', ' us')}, wrong {_fmt(c.get('wrong'), '.0f')}"
        " (busbw n/a at one rank)"
    )
    for name, rate, unit in (
        ("resnet50", "samples_per_s", "images"),
        ("transformer", "tokens_per_s", "tokens"),
    ):
        row = figs[name]
        if not row:
            lines.append(f"  {name}: n/a (no result from the run step)")
            continue
        step_ms = _num(row.get("step_time_p50_s"))
        lines.append(
            f"  {name} {row.get('preset')} {row.get('precision')} batch {row.get('batch_per_rank')}:"
            f" {_fmt(row.get(rate), '.5g')} {unit}/s, step p50 {_fmt(step_ms and step_ms * 1e3, '.4g', ' ms')},"
            f" MFU {_fmt(row.get('mfu'), '.1%')}, power {_fmt(row.get('power_w'), '.0f', ' W')},"
            f" GPU util {_fmt(row.get('gpu_util_pct'), '.0f', '%')}"
        )  # fmt: skip
    ratios = ", ".join(f"{w} {_fmt(v.get('ratio'), '.3f')}" for w, v in figs["fidelity"].items())
    lines.append(f"  harness step / plain loop step: {ratios}")
    mr = ", ".join(f"{q['workload']}@{q['world_size']} {q['status']}" for q in m["training"])
    lines.append(
        f"  multirank: {m['status'] or 'n/a'}; collectives {m['collective_points']} points,"
        f" wrong {m['collective_wrong']}; {mr or 'no training rows'} {m['error'] or ''}".rstrip()
    )
    tests = "n/a"
    if p:
        tests = (
            f"{p['passed']} passed, {p['failures'] + p['errors']} failed, {p['skipped']} skipped"
        )
    lines.append(f"  pytest -m gpu: {tests}")
    fa = figs.get("false_alarms")
    if fa:
        lines.append(
            f"  compare on identical CPU runs, sets of {fa['set_size']}: false alarms"
            f" {_fmt(fa['sets_false_alarm_rate'], '.1%')} (goal <= 5%); 25% class slowdown caught"
            f" {_fmt(fa['sets_class25_caught'], '.0%')}, uniform 25%"
            f" {_fmt(fa['sets_uniform25_caught'], '.0%')} (goal >= 95%); single runs: false"
            f" alarms {_fmt(fa['single_false_alarm_rate'], '.1%')}, undecided"
            f" {_fmt(fa['single_undecided_share'], '.0%')}; {_fmt(fa['wall_s'], '.0f', ' s')} per run"
        )  # fmt: skip
    return lines


def render_goals(gls: list[dict]) -> list[str]:
    lines = [
        "",
        "goals: measured here vs target; references are public, not measured here",
    ]
    for g in gls:
        v = g["measured"]
        shown = "n/a" if v is None else (f"{v:.1%}" if g["unit"].startswith("of ") else f"{v:.4g}")
        why = f" ({g['why']})" if g["why"] else ""
        lines.append(f"  {g['goal']}")
        lines.append(f"    measured {shown} {g['unit']}; target {g['target']}; {g['verdict']}{why}")
        lines.append(f"    reference: {g['reference']}")
        if g["verdict"] == "below goal":
            lines.append(
                "    why lower: not established by the kit (see MFU, power, GPU util above)"
            )
    return lines


def render(device: str, env: dict, steps: list[dict], figs: dict, gls: list[dict]) -> str:
    lines = render_steps(device, env, steps) + render_figures(figs)
    if "startup" in figs:
        lines += gpu_path.render(figs)
    lines += render_goals(gls)
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work", type=Path)
    ap.add_argument("--device", required=True, choices=("cuda", "cpu"))
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    w = args.work
    run, topo = _load_json(w / "run.json"), _load_json(w / "topo-out.json")
    fidelity, multirank = _load_json(w / "fidelity.json"), _load_json(w / "multirank.json")
    steps = read_steps(w)
    env = environment(w, run, topo)
    figs = figures(w, run, topo, fidelity, multirank)
    gls = goals(args.device, run, topo, fidelity)
    figs |= gpu_path.figures(w, args.device)
    text = render(args.device, env, steps, figs, gls)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.txt").write_text(text)
    payload = {
        "device": args.device,
        "environment": env,
        "steps": steps,
        "figures": figs,
        "goals": gls,
    }
    (args.out / "figures.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
    print(text, end="")


if __name__ == "__main__":
    main()
