"""One run's comparable points: a label, a class, a time per round, and what failed.

    from scaling.collector.points import run_points
    pts = run_points(load_run("runs/a"))
    pts[["point", "kind", "world_size", "figure_s", "rounds"]]

A point is a collective at one op, dtype, timing, world size and size, or a training workload
at one preset, precision, batch and world size; its label is what `scaling compare` prints.
Its run figure is the median of its round figures (collector/rounds.py: the 25th percentile of
each round's slowest-rank times), so the rounds give the run's figure and its precision, and
runs are what a run-level comparison (collector/runsets.py) treats as independent evidence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.collector import rounds as round_figures
from scaling.collector.collectives import POINT_KEYS as COLL_KEYS_ALL
from scaling.collector.loaded_run import Run
from scaling.collector.training import POINT_KEYS as TRAIN_KEYS_ALL
from scaling.config.units import format_size
from scaling.workloads import collectives, training

COLUMNS = ["point", "kind", "name", "world_size", "reference", "figure_s", "rounds", "failed"]


def class_label(kind: str, world_size: int) -> str:
    """A class: a kind at a world size. Its points share their cause (a busier host, a slower
    link) and move together, so compare judges classes as well as points."""
    return f"{kind} at {int(world_size)} rank{'s' if int(world_size) != 1 else ''}"


# The keys each label formats itself (count follows from size and dtype, a training run has
# one scaling mode). Any other declared key that does not scale with the world size, a new
# one, is appended as "name=value": two points never share a label.
_COLL_SHOWN = ("group", "op", "dtype", "size_bytes", "count", "timing")
_TRAIN_SHOWN = ("workload", "preset", "precision", "scaling")


def _others(r, declared, shown) -> str:
    extra = [k.name for k in declared if not k.scales and k.name not in shown]
    return "".join(f" {k}={r[k]}" for k in extra if k in r and not pd.isna(r[k]))


def collective_label(r) -> str:
    extra = "" if r.get("group", "world") == "world" else f" [{r['group']}]"
    if r.get("timing", "blocking") not in ("blocking", None) and not pd.isna(r.get("timing")):
        extra += f" {r['timing']}"
    extra += _others(r, collectives.POINT_KEYS, _COLL_SHOWN)
    return (
        f"{r['op']} {r['dtype']} {int(r['world_size'])} ranks "
        f"{format_size(int(r['size_bytes']))}{extra}"
    )


def training_label(r) -> str:
    parts = [str(r["workload"])]
    parts += [str(r[k]) for k in ("preset", "precision") if k in r and not pd.isna(r[k])]
    if "batch_per_rank" in r and not pd.isna(r["batch_per_rank"]):
        parts.append(f"batch {int(r['batch_per_rank'])}")
    return (
        " ".join(parts)
        + _others(r, training.POINT_KEYS, _TRAIN_SHOWN)
        + (f" {int(r['world_size'])} ranks")
    )


def with_rounds(table: pd.DataFrame, rounds: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The table's rows with their per-round figures in a "rounds" list (empty when none)."""
    table = table.copy()
    lists = round_figures.as_lists(rounds, [k for k in keys if k in rounds])
    on = [k for k in keys if k in table and k in lists]
    for k in on:  # sample files mix record types: integer keys may arrive as floats
        if pd.api.types.is_numeric_dtype(table[k]) or pd.api.types.is_numeric_dtype(lists[k]):
            table[k] = pd.to_numeric(table[k], errors="coerce").astype(float)
            lists[k] = pd.to_numeric(lists[k], errors="coerce").astype(float)
    if table.empty:
        return table.assign(rounds=[])
    out = table.merge(lists[on + ["rounds"]], on=on, how="left")
    out["rounds"] = [r if isinstance(r, list) else [] for r in out["rounds"]]
    return out


def _figure(rounds: list) -> float:
    good = [v for v in rounds if v is not None and np.isfinite(v) and v > 0]
    return float(np.median(good)) if good else np.nan


def run_points(run: Run, q: float = round_figures.ROUND_QUANTILE) -> pd.DataFrame:
    """One row per point of the run (COLUMNS). figure_s: the median round figure (s), NaN when
    the point has no timings; failed: why the point did not work (wrong elements, a training
    status other than ok), else ""."""
    rows = []
    coll = with_rounds(run.collectives, round_figures.collective_rounds(run.samples, q),
                       COLL_KEYS_ALL)  # fmt: skip
    for r in coll.to_dict(orient="records"):
        wrong = r.get("wrong")
        rows.append({
            "point": collective_label(r), "kind": "collective", "name": r["op"],
            "world_size": int(r["world_size"]), "reference": int(r["world_size"]) == 1,
            "figure_s": _figure(r["rounds"]), "rounds": r["rounds"],
            "failed": f"#wrong {int(wrong)}" if wrong is not None and not pd.isna(wrong)
            and wrong > 0 else "",
        })  # fmt: skip
    train = with_rounds(run.training, round_figures.training_rounds(run.samples, q),
                        TRAIN_KEYS_ALL)  # fmt: skip
    for r in train.to_dict(orient="records"):
        ok = r.get("status") == "ok"
        rows.append({
            "point": training_label(r), "kind": "training", "name": r["workload"],
            "world_size": int(r["world_size"]), "reference": int(r["world_size"]) == 1,
            "figure_s": _figure(r["rounds"]) if ok else np.nan,
            "rounds": r["rounds"] if ok else [], "failed": "" if ok else f"status {r['status']}",
        })  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)
