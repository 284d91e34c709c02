"""Views of training results the report draws: the scaling curve with its ideal line, and
per-rank step times for straggler spotting.

The training summary itself (training.csv) comes from `scaling.collector.training`; this
module derives only what that table has no column for.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from scaling.collector.training import CURVE_KEYS

_PHASE_PREFERENCE = ("compute", "local", "ddp")

CURVE_COLUMNS = [
    "workload",
    "preset",
    "precision",
    "scaling",
    "batch_per_rank",
    "global_batch",
    "world_size",
    "status",
    "samples_per_s",
    "samples_per_s_per_gpu",
    "ideal_samples_per_s",
    "efficiency",
]
PER_RANK_COLUMNS = ["workload", "world_size", "phase", "rank", "steps", "time_p50_s", "vs_median"]


def curve_id(row) -> tuple:
    """The curve a training row belongs to: same workload and config, only the world size
    varies. Weak scaling holds the per-rank batch fixed across world sizes, strong scaling the
    global batch (docs/formulas.md, "Scaling efficiency")."""
    batch = row["global_batch"] if row.get("scaling") == "strong" else row["batch_per_rank"]
    return tuple(row.get(k) for k in CURVE_KEYS) + (batch,)


def scaling_curves(training: pd.DataFrame) -> pd.DataFrame:
    """Throughput per world size with the ideal-linear line n x throughput(1) of the same curve.

    The ideal is NaN when the curve has no successful world-size-1 point.
    """
    if training.empty:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    t = training.copy()
    for col in CURVE_COLUMNS:
        if col not in t:
            t[col] = np.nan
    t["_curve"] = [curve_id(row) for row in t.to_dict(orient="records")]
    base = t[(t["world_size"] == 1) & (t["status"] == "ok")].drop_duplicates("_curve")
    one = dict(zip(base["_curve"], base["samples_per_s"], strict=True))
    t["ideal_samples_per_s"] = [
        n * one.get(c, np.nan) for n, c in zip(t["world_size"], t["_curve"], strict=True)
    ]
    t = t.sort_values(["workload", "_curve", "world_size"], key=_sort_key)
    return t[CURVE_COLUMNS].reset_index(drop=True)


def _sort_key(col: pd.Series) -> pd.Series:
    # The curve id is a tuple that may hold NaN; sort curves by their text.
    return col.astype(str) if col.name == "_curve" else col


def per_rank_step_times(samples: pd.DataFrame) -> pd.DataFrame:
    """Median step time of each rank per workload and world size, and its ratio to the median rank.

    Uses the compute-only timing when the run has it: DDP's backward all-reduce is a barrier
    that makes every rank look as slow as the slowest (docs/formulas.md, "Stragglers").
    """
    if samples.empty or "type" not in samples or "phase" not in samples:
        return pd.DataFrame(columns=PER_RANK_COLUMNS)
    steps = samples[samples["type"] == "step"]
    if steps.empty:
        return pd.DataFrame(columns=PER_RANK_COLUMNS)
    parts = []
    for (workload, n), g in steps.groupby(["workload", "world_size"], sort=True):
        phase = next((p for p in _PHASE_PREFERENCE if (g["phase"] == p).any()), None)
        if phase is None:
            continue
        per_rank = g[g["phase"] == phase].groupby("rank")["time_s"].agg(["size", "median"])
        part = pd.DataFrame(
            {
                "workload": workload,
                "world_size": n,
                "phase": phase,
                "rank": per_rank.index.astype(int),
                "steps": per_rank["size"].to_numpy(),
                "time_p50_s": per_rank["median"].to_numpy(),
            }
        )
        part["vs_median"] = part["time_p50_s"] / part["time_p50_s"].median()
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=PER_RANK_COLUMNS)
    return pd.concat(parts, ignore_index=True)[PER_RANK_COLUMNS]


def rank_list(value) -> list[int]:
    """straggler_ranks as a list, whether the table holds [3, 5], "3;5", "[3, 5]", 3.0 (a
    single rank read back from CSV) or nothing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [int(v) for v in value]
    return [int(float(v)) for v in re.findall(r"\d+(?:\.\d*)?", str(value))]
