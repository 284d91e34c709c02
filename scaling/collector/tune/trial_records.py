"""One trial's records -> its per-round throughputs and its figures (pure pandas).

The reading side of a trial; scaling/tune/trials.py is the side that runs it on the ranks.

    rounds, figures = trial_figures(records, manifest)

The records are what a training point writes to samples.jsonl (workloads/training: "step"
and "train_point"), one point measured in several rounds (each record tagged with its
round). The definitions are the training table's (collector/training.py), so a trial's
figures read as training.csv's would for the same steps:

- a step's time is the slowest rank's; a round's figure is the median of its steps, and
  its throughput global batch / that median (samples/s over all ranks);
- per-GPU throughput, MFU (n/a where the device's peak is unknown, e.g. CPU), the largest
  rank's peak memory and the exposed communication (t_ddp - t_local, when the trial
  measured the step without gradient sync) come from training.csv's row for all rounds.
"""

from __future__ import annotations

import math

import pandas as pd

from scaling.collector.rounds import training_rounds
from scaling.collector.training import summarize

FIGURES = {
    "samples_per_s_per_gpu": "samples_per_s_per_gpu",
    "mfu": "mfu",
    "peak_mem_bytes": "peak_mem_bytes_max",
    "exposed_comm_s": "exposed_comm_s",
    "t_ddp_s": "t_ddp_s",
    "t_local_s": "t_local_s",
    "global_batch": "global_batch",
    "consistent": "consistent",
}


def trial_figures(records: list[dict], manifest: dict | None = None) -> tuple[list[float], dict]:
    """(throughput per round, in round order; figures). Empty rounds: nothing was timed."""
    df = pd.DataFrame(records)
    table = summarize(df, manifest)
    if table.empty:
        return [], {}
    row = table.iloc[0]
    figures = {name: _value(row.get(col)) for name, col in FIGURES.items()}
    if figures["t_local_s"] is None:
        figures["exposed_comm_s"] = None  # the trial did not time the step without sync
    per_round = training_rounds(df, q=0.5).sort_values("round")
    batch = figures["global_batch"]
    rounds = [batch / t for t in per_round["time_s"] if t and t > 0] if batch else []
    return rounds, figures


def _value(x):
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return None
    if hasattr(x, "item"):
        x = x.item()
    return x


def split_rounds(records: list[dict], steps: int, first_round: int = 0) -> list[dict]:
    """One call's records with its consecutive measured steps cut into rounds of `steps`:
    step i becomes round first_round + i // steps, step i % steps (tune/trials.py says why a
    trial's rounds are blocks of one call). Other records are the call's first round."""
    out = []
    for r in records:
        if r.get("type") == "step":
            out.append({**r, "round": first_round + r["step"] // steps, "step": r["step"] % steps})
        else:
            out.append({**r, "round": first_round})
    return out


def as_trial_records(records: list[dict], candidate: str, rung) -> list[dict]:
    """The records as samples.jsonl holds them in a tune run: "step" -> "trial_step",
    "train_point" -> "trial_point", each with its candidate and rung. The training table
    groups points by workload, preset and precision, so plain records of several candidates
    would merge into one row; these keep `scaling report` from doing that. A reader who wants
    them as training records maps the type back (trial_point -> train_point)."""
    return [
        {**r, "type": f"trial_{_SHORT.get(r['type'], r['type'])}", "candidate": candidate,
         "rung": rung}
        for r in records
    ]  # fmt: skip


_SHORT = {"step": "step", "train_point": "point"}


def measured_seconds(records: list[dict]) -> float:
    """Seconds inside measured steps: per (phase, round, step), the slowest rank's time."""
    slowest: dict[tuple, float] = {}
    for r in records:
        if r.get("type") == "step":
            key = (r.get("phase"), r.get("round"), r.get("step"))
            slowest[key] = max(slowest.get(key, 0.0), float(r["time_s"]))
    return sum(slowest.values())
