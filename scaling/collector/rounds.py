"""Round figures: one time per point and round, the unit `scaling compare` judges noise with.

Per iteration (collectives) or step (training) the time is the slowest rank's, as everywhere
else; then one figure per round: the ROUND_QUANTILE of that round's iterations. Iterations
inside a round are seconds apart and correlated, so they say little about how the machine
drifts; rounds are spread over the world size's whole measurement (scaling/round_order.py), so their
figures do. Samples without a "round" field are one round (round 0).

Why the 25th percentile and not the median: on a shared host, interference only ever adds time
(a rank descheduled, a thread woken late), so it fattens the upper part of a round's iterations
and moves its median with the neighbours' load, while the lower part keeps the machine's
undisturbed speed; a real slowdown moves both. Measured on the 2-core development VM under other
tenants' load (benchmarks/compare_false_alarms.py, 6 identical + 6 slowed runs, the same runs
judged both ways): a planted 25% slowdown was caught in 16 of 36 pairs with round medians and
33 of 36 with round p25 on the set the choice was made on, 14 and 30 of 36 on a fresh set;
false alarms 1 and 1, then 4 and 5 of 30 pairs. The cost: a change confined to the slow tail
(more jitter, same typical speed) is not what compare judges; summary.csv's p90/p99 show it.
"""

from __future__ import annotations

import pandas as pd

from scaling.collector.collectives import POINT_KEYS as COLL_KEYS
from scaling.collector.collectives import slowest_per_iteration
from scaling.collector.training import POINT_KEYS as TRAIN_KEYS
from scaling.collector.training import step_keys

ROUND_COLUMNS = ["round", "time_s"]
ROUND_QUANTILE = 0.25


def collective_rounds(samples: pd.DataFrame, q: float = ROUND_QUANTILE) -> pd.DataFrame:
    """Per collective point and round: the q-quantile over iterations of the slowest rank's
    time."""
    slowest = slowest_per_iteration(samples)
    if slowest.empty:
        return pd.DataFrame(columns=COLL_KEYS + ROUND_COLUMNS)
    g = slowest.groupby(COLL_KEYS + ["round"], sort=False)["time_s"].quantile(q)
    return g.reset_index()


def training_rounds(
    samples: pd.DataFrame, q: float = ROUND_QUANTILE, phase: str = "ddp"
) -> pd.DataFrame:
    """Per training point and round: the q-quantile over steps of the slowest rank's `phase`
    time (ddp: the real step, what samples/s is computed from)."""
    if samples.empty or "type" not in samples or "phase" not in samples:
        return pd.DataFrame(columns=TRAIN_KEYS + ROUND_COLUMNS)
    steps = samples[(samples["type"] == "step") & (samples["phase"] == phase)]
    if steps.empty:
        return pd.DataFrame(columns=TRAIN_KEYS + ROUND_COLUMNS)
    if "round" not in steps:
        steps = steps.assign(round=0)
    keys = [k for k in TRAIN_KEYS if k in steps]
    slowest = steps.groupby(keys + step_keys(steps), sort=False, dropna=False)["time_s"].max()
    g = slowest.groupby(keys + ["round"], sort=False, dropna=False).quantile(q)
    return g.reset_index()


def as_lists(rounds: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per point with its round figures in round order (column "rounds")."""
    if rounds.empty:
        return pd.DataFrame(columns=keys + ["rounds"])
    ordered = rounds.sort_values("round")
    g = ordered.groupby(keys, sort=False, dropna=False)["time_s"]
    return g.agg(list).rename("rounds").reset_index()
