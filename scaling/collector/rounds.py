"""Round medians: one figure per point and round, the unit `scaling compare` judges noise with.

Per iteration (collectives) or step (training) the time is the slowest rank's, as everywhere
else; then the median over the iterations of each round. Iterations inside a round are seconds
apart and correlated, so they say little about how the machine drifts; rounds are spread over
the world size's whole measurement (scaling/rounds.py), so their medians do. Samples without a
"round" field are one round (round 0).
"""

from __future__ import annotations

import pandas as pd

from scaling.collector.collectives import POINT_KEYS as COLL_KEYS
from scaling.collector.collectives import slowest_per_iteration
from scaling.collector.training import POINT_KEYS as TRAIN_KEYS
from scaling.collector.training import step_keys

ROUND_COLUMNS = ["round", "time_s"]


def collective_rounds(samples: pd.DataFrame) -> pd.DataFrame:
    """Per collective point and round: the median over iterations of the slowest rank's time."""
    slowest = slowest_per_iteration(samples)
    if slowest.empty:
        return pd.DataFrame(columns=COLL_KEYS + ROUND_COLUMNS)
    g = slowest.groupby(COLL_KEYS + ["round"], sort=False)["time_s"].median()
    return g.reset_index()


def training_rounds(samples: pd.DataFrame, phase: str = "ddp") -> pd.DataFrame:
    """Per training point and round: the median over steps of the slowest rank's `phase` time
    (ddp: the real step, what samples/s is computed from)."""
    if samples.empty or "type" not in samples or "phase" not in samples:
        return pd.DataFrame(columns=TRAIN_KEYS + ROUND_COLUMNS)
    steps = samples[(samples["type"] == "step") & (samples["phase"] == phase)]
    if steps.empty:
        return pd.DataFrame(columns=TRAIN_KEYS + ROUND_COLUMNS)
    if "round" not in steps:
        steps = steps.assign(round=0)
    keys = [k for k in TRAIN_KEYS if k in steps]
    slowest = steps.groupby(keys + step_keys(steps), sort=False, dropna=False)["time_s"].max()
    g = slowest.groupby(keys + ["round"], sort=False, dropna=False).median()
    return g.reset_index()


def as_lists(rounds: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per point with its round medians in round order (column "rounds")."""
    if rounds.empty:
        return pd.DataFrame(columns=keys + ["rounds"])
    ordered = rounds.sort_values("round")
    g = ordered.groupby(keys, sort=False, dropna=False)["time_s"]
    return g.agg(list).rename("rounds").reset_index()
