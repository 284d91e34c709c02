"""A run's predictions at world sizes it did not measure: what predict.json holds.

    from scaling.collector.loaded_run import load_run
    from scaling.collector.predict import predict_run
    doc = predict_run(load_run("runs/..."), targets=[16, 64, 256, 1024])

Every figure is a model output (labelled so), with a 90% bootstrap interval over the
measured iterations, and the holdout error of its fit ("unvalidated" with the reason when
the run has too few world sizes to hold one out).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np

from scaling.collector.predict import whatif as wi
from scaling.collector.predict.collective_prediction import (
    all_reduce_family,
    collective_entry,
    families,
    fit_set,
    validation,
    what_if_fits,
)
from scaling.collector.predict.fit_points import (
    BOOTSTRAP_REPS,
    INTERVAL,
    PointSet,
    collective_points,
    interval,
)
from scaling.collector.predict.holdout import step_holdout
from scaling.collector.predict.step import (
    INTER,
    INTRA,
    Layout,
    StepModel,
    TrainingCurve,
    apply_compute_what_if,
    build_step_model,
    training_curves,
)

SCHEMA = "scaling.predict/1"
PREDICT_JSON = "predict.json"
THRESHOLDS = (0.90, 0.75)
SEARCH_MAX = 65536


class NothingToFit(ValueError):
    """The run holds no collective at more than one rank and no training point."""


def predict_run(
    run,
    targets: list[int],
    gpus_per_node: int | None = None,
    what_if: dict | None = None,
    reps: int = BOOTSTRAP_REPS,
    seed: int = 0,
) -> dict:
    """The predict.json document for a loaded run (scaling.collector.loaded_run.Run)."""
    rng = np.random.default_rng(seed)
    sets = collective_points(run.samples)
    curves = training_curves(run.training, run.samples)
    if not sets and not curves:
        raise NothingToFit(
            f"{run.path}: nothing to fit (no collective measured at more than one rank "
            "and no successful training point)"
        )
    layout, source = resolve_layout(run, sets, gpus_per_node)
    fitted = [fit_set(ps, reps, rng) for ps in sets]
    what_if = what_if or {}
    return {
        "schema": SCHEMA,
        "run_dir": str(run.path),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "targets": sorted(targets),
        "gpus_per_node": layout.gpus_per_node,
        "gpus_per_node_source": source,
        "measured_spans": {str(n): s for n, s in sorted(layout.measured.items())},
        "host_cores_shared": layout.host_cores,
        "bootstrap": {
            "replicates": reps,
            "interval_pct": list(INTERVAL),
            "what": "measurement noise only (iterations resampled); the holdout error is the model's",
        },
        "what_if": wi.describe(what_if) if what_if else None,
        "collectives": [
            collective_entry(fam, targets, layout, what_if) for fam in families(fitted).values()
        ],
        "training": [
            _training_entry(c, fitted, targets, layout, what_if, reps, rng) for c in curves
        ],
    }


def resolve_layout(run, sets: list[PointSet], flag: int | None) -> tuple[Layout, str]:
    """Ranks per node for unmeasured sizes (flag, run config, Ray node resources, or shapes)."""
    measured: dict[int, str] = {}
    for ps in sets:
        for n in ps.world_sizes:
            measured[n] = ps.span
    t = run.training
    if not t.empty and "nodes" in t:
        for n, nodes in zip(t["world_size"], t["nodes"], strict=True):
            if not (isinstance(nodes, float) and math.isnan(nodes)):
                measured.setdefault(int(n), INTER if int(nodes) > 1 else INTRA)
    gpus_per_node, source = _ranks_per_node(run.manifest, measured, flag)
    return Layout(gpus_per_node, measured, shared_host_cores(run.manifest)), source


def _ranks_per_node(m: dict, measured: dict[int, str], flag: int | None) -> tuple[int, str]:
    if flag:
        return int(flag), "--gpus-per-node"
    cfg = (m.get("config") or {}).get("cluster", {}).get("gpus_per_node")
    if cfg:
        return int(cfg), "the run's --gpus-per-node"
    res = "GPU" if m.get("device") == "cuda" else "CPU"
    counts = [(n.get("Resources") or {}).get(res) for n in (m.get("ray") or {}).get("nodes", [])]
    counts = [int(c) for c in counts if c]
    if counts:
        return max(counts), f"the largest {res} count of a Ray node in the run"
    largest = max(measured) if measured else 1
    return largest, "the largest world size measured (one node assumed)"


def shared_host_cores(manifest: dict) -> int | None:
    """The usable cores of the one host every rank of a CPU run ran on (several Ray nodes of a
    local cluster included: they share that host's cores); None for GPU runs, runs over
    several hosts, or when no hardware snapshot says."""
    if manifest.get("device") != "cpu":
        return None
    hosts = {r.get("hostname") for r in manifest.get("ranks") or []}
    if len(hosts) != 1 or None in hosts:
        return None
    (host,) = hosts
    for node in (manifest.get("topology") or {}).values():
        facts = ((node or {}).get("snapshot") or {}).get("host") or {}
        if facts.get("hostname") == host and facts.get("cpu_usable"):
            return int(facts["cpu_usable"])
    return None


# -- training --------------------------------------------------------------------------------


def _training_entry(curve: TrainingCurve, fitted, targets, layout, what_if, reps, rng) -> dict:
    head = {
        "workload": curve.workload,
        "preset": curve.preset,
        "precision": curve.precision,
        "scaling": curve.scaling,
        "label": curve.label,
        "measured": _measured_rows(curve),
        "buckets": {"bytes": curve.bucket_bytes, "note": curve.bucket_note},
    }
    fam = all_reduce_family(fitted)
    if not fam or not curve.bucket_bytes:
        why = "no all_reduce measured at more than one rank" if not fam else curve.bucket_note
        return {**head, "unavailable": f"{why}: nothing to model DDP's communication with"}
    fits = {s: fs.fit for s, fs in fam.items()}
    model = build_step_model(curve, fits, layout)
    if model is None:
        n = max(curve.world_sizes)
        return {**head, "unavailable": f"no all_reduce fit in the span of n={n} ({layout.span(n)})"}
    boots = _step_replicates(curve, fam, layout, reps, rng)
    holdout = step_holdout(curve, [fs.ps for fs in fam.values()], layout)
    entry = {
        **head,
        "all_reduce_model": f"{next(iter(fam.values())).ps.dtype} {next(iter(fam.values())).ps.timing}",
        "reference_n": model.ref_n,
        "compute_s": model.compute_ref_s,
        "exposure": model.exposure,
        "overlap_measured": curve.overlap.get(model.ref_n),
        "holdout": holdout,
        "notes": model.notes,
        **_model_outputs(model, boots, targets, holdout),
    }
    if what_if:
        wf, notes = what_if_fits(fits, what_if)
        m2 = _what_if_model(model, wf, what_if)
        b2 = [_what_if_model(b, what_if_fits(b.fits, what_if)[0], what_if) for b in boots]
        entry["what_if"] = {"replaced": wi.describe(what_if), "notes": notes,
                            **_model_outputs(m2, b2, targets, None)}  # fmt: skip
    return entry


def _what_if_model(model: StepModel, fits: dict, what_if: dict) -> StepModel:
    from dataclasses import replace

    m = replace(model, fits=fits)
    return apply_compute_what_if(m, what_if["compute"]) if "compute" in what_if else m


def _measured_rows(curve: TrainingCurve) -> list[dict]:
    t_ddp, t_local = curve.medians()
    rows = []
    for n in curve.world_sizes:
        eff = None
        if 1 in t_ddp:
            eff = t_ddp[1] / t_ddp[n] if curve.scaling != "strong" else t_ddp[1] / (n * t_ddp[n])
        rows.append({"n": n, "step_s": t_ddp[n], "compute_s": t_local[n], "efficiency": eff})
    return rows


def _step_replicates(curve, fam, layout, reps, rng) -> list[StepModel]:
    has_noise = any(fs.boots for fs in fam.values()) or any(
        len(a) > 1 for a in curve.ddp_steps.values()
    )
    if not has_noise:
        return []
    out = []
    for r in range(reps):
        fits = {s: (fs.boots[r] if fs.boots else fs.fit) for s, fs in fam.items()}
        m = build_step_model(curve, fits, layout, curve.medians(rng))
        if m is not None:
            out.append(m)
    return out


def _model_outputs(model: StepModel, boots: list[StepModel], targets, holdout) -> dict:
    ns = np.array(sorted(targets), dtype=float)
    p = model.predict(ns)
    reps = [b.predict(ns) for b in boots]
    rows = []
    for i, n in enumerate(ns.astype(int)):
        row = {"n": int(n), "nodes": model.layout.nodes(int(n)), "span": model.layout.span(int(n))}
        if not np.isfinite(p["step_s"][i]):
            row["reason"] = f"no all_reduce measured {row['span']}: give --what-if link=GB/s"
            rows.append(row)
            continue
        for key in ("step_s", "throughput", "efficiency"):
            row[key] = float(p[key][i])
            lo, hi = interval([r[key][i] for r in reps])
            row[key + "_interval"] = None if lo is None else [lo, hi]
        row["terms_s"] = {k: float(p[k + "_s"][i]) for k in ("compute", "latency", "bandwidth")}
        row["dominant"] = str(p["dominant"][i])
        if holdout is not None:
            err = holdout.get("step_error_pct")
            row["validation"] = validation(
                holdout, f"step error {err:+.1f}%" if err is not None else ""
            )
        rows.append(row)
    return {"predictions": rows, "crossings": _crossings(model, boots)}


def _search_grid() -> np.ndarray:
    # From 2: one rank is the efficiency baseline (1 by definition).
    return np.unique(
        np.concatenate([np.arange(2, 4097), np.geomspace(4096, SEARCH_MAX, 200).round()])
    )


def _first_below(model: StepModel, grid: np.ndarray, thr: float) -> tuple[float | None, float]:
    """First n whose efficiency is below thr, and the largest n the model could evaluate."""
    eff = model.predict(grid)["efficiency"]
    known = np.isfinite(eff)
    below = np.nonzero(known & (eff < thr))[0]
    reach = float(grid[known].max()) if known.any() else 0.0
    return (float(grid[below[0]]) if len(below) else None), reach


def _n_interval(reps: list[float | None]) -> list[float | None] | None:
    """Bootstrap interval of a crossing; a bound is None where replicates never cross."""
    if len(reps) < 2:
        return None
    v = np.array([math.inf if r is None else r for r in reps])
    return [
        None if math.isinf(x) else float(x) for x in np.percentile(v, INTERVAL, method="nearest")
    ]


def _crossings(model: StepModel, boots: list[StepModel]) -> dict:
    grid = _search_grid()
    out = {}
    for thr in THRESHOLDS:
        n, reach = _first_below(model, grid, thr)
        reps = [_first_below(b, grid, thr)[0] for b in boots]
        entry = {"n": n, "n_interval": _n_interval(reps), "searched_to": reach}
        if n is None:
            entry["note"] = f"not below {thr:.0%} up to n={int(reach)}"
            if reach < SEARCH_MAX:
                entry["note"] += " (beyond: no model for that span)"
        out[f"{thr:.2f}"] = entry
    return out
