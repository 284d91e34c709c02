"""Communicator start-up at world sizes not measured: a law over n per phase, held out honestly.

The measured figures are startup.csv's world-group rows (collector/startup.py: the slowest
rank's time per phase, one formation per world size). Per phase, two laws are fitted:

- linear, a + b*n: NCCL's bootstrap gathers every rank's address through a ring, so its
  work grows with n; this is the pessimistic law;
- log, a + b*log2(n): tree-like set-up, the optimistic one.

As with the collectives' law (hockney.py), a law over n needs 3 or more world sizes: the
largest is held out, both laws are fitted to the rest and predict it, and the one with the
smaller error is refitted to all and extrapolated (holdout.py's procedure). Fewer world sizes
give no prediction, with the reason. A fitted slope below zero (start-up that did not grow
over the measured range) is not extrapolated: the measured range says nothing of growth.
Every predicted figure is an estimate and is labelled so, with its holdout error.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

MIN_WORLD_SIZES = 3
PHASES = ("init_s", "first_collective_s", "setup_s")
LAWS = {"linear": lambda n: np.asarray(n, float), "log": lambda n: np.log2(np.asarray(n, float))}


def predict_startup(table: pd.DataFrame, targets: list[int]) -> dict:
    """predict.json's "startup" entry: measured per world size, and per phase a law, its
    holdout error and estimates at `targets` (or the reason there are none)."""
    world = table[table["group"] == "world"].drop_duplicates("world_size") if len(table) else table
    world = world.sort_values("world_size") if len(world) else world
    measured = [
        {"world_size": int(r["world_size"]), **{p: float(r[p]) for p in PHASES}}
        for r in world.to_dict(orient="records")
    ]
    out: dict = {"measured": measured, "label": "estimate", "phases": {}}
    if len(measured) < MIN_WORLD_SIZES:
        out["reason"] = (
            f"start-up measured at {len(measured)} world size(s); a law over n needs "
            f"{MIN_WORLD_SIZES} (2 to fit, the largest held out), as the collectives' law does"
        )
        return out
    ns = np.array([m["world_size"] for m in measured], float)
    for phase in PHASES:
        out["phases"][phase] = _phase(ns, np.array([m[phase] for m in measured]), targets)
    return out


def _fit(law: str, ns, ys) -> tuple[float, float]:
    slope, intercept = np.polyfit(LAWS[law](ns), ys, 1)
    return float(intercept), float(slope)


def _phase(ns, ys, targets: list[int]) -> dict:
    errors = {}
    for law in LAWS:
        a, b = _fit(law, ns[:-1], ys[:-1])
        predicted = a + b * float(LAWS[law](ns[-1]))
        errors[law] = abs(predicted - ys[-1]) / ys[-1] if ys[-1] > 0 else math.inf
    law = min(errors, key=errors.get)
    a, b = _fit(law, ns, ys)
    entry = {
        "law": law, "intercept_s": a, "slope_s": b, "held_out_n": int(ns[-1]),
        "holdout_error_pct": 100 * errors[law],
    }  # fmt: skip
    if b < 0:
        entry["reason"] = "no growth over the measured world sizes (slope < 0): not extrapolated"
        return entry
    entry["predictions"] = [
        {"world_size": int(n), "seconds": a + b * float(LAWS[law](n))} for n in sorted(targets)
    ]
    return entry


def lines(entry: dict | None) -> list[str]:
    """The terminal's and the report's words for the entry (estimates, labelled)."""
    if not entry:
        return []
    if "reason" in entry:
        return [f"communicator start-up: n/a ({entry['reason']})"]
    out = ["communicator start-up (estimates; slowest rank, world group):"]
    for phase, e in entry["phases"].items():
        head = f"  {phase}: {e['law']} law, holdout error {e['holdout_error_pct']:.0f}% at n={e['held_out_n']}"
        if "predictions" not in e:
            out.append(f"{head}; {e['reason']}")
            continue
        shown = ", ".join(f"n={p['world_size']} {p['seconds']:.3g} s" for p in e["predictions"])
        out.append(f"{head}: {shown}")
    return out
