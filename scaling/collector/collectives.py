"""Collectives, collector layer (report/collectives.py draws it): samples -> summary table.

Collective samples -> the summary table (one row per group x op x world size x dtype x size).

Per iteration the op's time is the slowest rank's time (nccl-tests reports the
max over ranks). Percentiles are over iterations; bandwidths use the median
(docs/formulas.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.collector.formulas import algbw_gbps, busbw_factor
from scaling.collector.transport import join_transport
from scaling.workloads.collectives import ops

POINT_KEYS = [
    "group",
    "op",
    "world_size",
    "ranks",
    "nodes",
    "span",
    "shape",
    "dtype",
    "size_bytes",
    "count",
    "timing",
]
SUMMARY_COLUMNS = POINT_KEYS + [
    "iters",
    "time_p50_us",
    "time_p90_us",
    "time_p99_us",
    "time_min_us",
    "time_max_us",
    "algbw_gbps",
    "busbw_gbps",
    "wrong",
    "link_class",
    "transport",
    "ceiling_gbps",
    "busbw_ceiling_ratio",
]


def summarize(samples: pd.DataFrame, manifest: dict | None = None) -> pd.DataFrame:
    """The collectives summary; busbw is NaN (n/a) at one rank, wrong is NaN when unchecked."""
    if samples.empty or "type" not in samples:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    # Defaults once, on the rows that carry point keys; group records keep their own shape.
    points = _with_defaults(samples[samples["type"].isin(("coll", "check"))])
    slowest = slowest_per_iteration(points)
    if slowest.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    g = slowest.groupby(POINT_KEYS, sort=False)["time_s"]
    table = pd.DataFrame(
        {
            "iters": g.size(),
            "time_p50_us": g.quantile(0.50) * 1e6,
            "time_p90_us": g.quantile(0.90) * 1e6,
            "time_p99_us": g.quantile(0.99) * 1e6,
            "time_min_us": g.min() * 1e6,
            "time_max_us": g.max() * 1e6,
        }
    ).reset_index()
    table = _means_only(table, points)
    table["algbw_gbps"] = algbw_gbps(table["size_bytes"], table["time_p50_us"] * 1e-6)
    factors = [_factor(op, int(n)) for op, n in zip(table["op"], table["ranks"], strict=True)]
    table["busbw_gbps"] = table["algbw_gbps"] * np.array(
        [np.nan if f is None else f for f in factors]
    )

    checks = points[points["type"] == "check"] if "wrong" in points else points.iloc[0:0]
    if not checks.empty:
        keys = [k for k in POINT_KEYS if k in checks]
        # Each round checks once: #wrong is a check's count summed over ranks (nccl-tests),
        # and a point's figure is its worst round, so rounds do not multiply it.
        # min_count=1: a point whose every rank skipped the check stays NaN (n/a), not 0.
        per_round = checks.groupby([*keys, "round"], sort=False, dropna=False)["wrong"]
        worst = per_round.sum(min_count=1).groupby(level=list(range(len(keys))), sort=False).max()
        table = table.merge(worst.reset_index(), on=keys, how="left")
    else:
        table["wrong"] = np.nan
    table = join_transport(_join_links(table, samples), samples)
    return table[SUMMARY_COLUMNS]


def _means_only(table: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """Points whose one sample is a mean over iterations (an imported nccl-tests row): their
    p90/p99/min/max are n/a, not the mean repeated, and iters is the count averaged."""
    if "time_is_mean" not in points:
        return table
    means = points[(points["type"] == "coll") & (points["time_is_mean"] == True)]  # noqa: E712
    if means.empty:
        return table
    count = means.get("averaged_iters", pd.Series(np.nan, index=means.index))
    marks = means.assign(_mean_of=count.astype(float)).groupby(POINT_KEYS, sort=False)["_mean_of"]
    table = table.merge(marks.max().reset_index(), on=POINT_KEYS, how="left")
    hit = table["_mean_of"].notna() | table.set_index(POINT_KEYS).index.isin(marks.size().index)
    table.loc[hit, ["time_p90_us", "time_p99_us", "time_min_us", "time_max_us"]] = np.nan
    table.loc[hit, "iters"] = table.loc[hit, "_mean_of"]
    return table.drop(columns="_mean_of")


def _factor(op: str, n: int) -> float | None:
    # An op this process has no record of (registered by another program) has no known
    # factor: its busbw is n/a rather than a guess.
    return busbw_factor(op, n) if op in ops.OPS else None


def _join_links(table: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Each row gets its group's link class and ceiling; busbw / ceiling only where both are known."""
    links = samples[samples["type"] == "group"] if "link_class" in samples else samples.iloc[0:0]
    if links.empty:
        table["link_class"], table["ceiling_gbps"] = None, np.nan
    else:
        links = links.drop_duplicates(["world_size", "group"], keep="last")
        links = links[["world_size", "group", "link_class", "ceiling_gbps"]]
        table = table.merge(links, on=["world_size", "group"], how="left")
    ceiling = pd.to_numeric(table["ceiling_gbps"], errors="coerce")
    table["ceiling_gbps"] = ceiling
    table["busbw_ceiling_ratio"] = table["busbw_gbps"] / ceiling
    return table


def _with_defaults(samples: pd.DataFrame) -> pd.DataFrame:
    """Fill point keys older or hand-written sample files lack (a group's ranks = its world size).

    Samples the tool writes have every key: then the frame comes back as is, uncopied.
    """
    keys = ("ranks", "group", "nodes", "span", "shape", "round")
    if all(k in samples and not samples[k].isna().any() for k in keys):
        return samples
    s = samples.copy()
    if "ranks" not in s:
        s["ranks"] = s.get("world_size")
    s["ranks"] = s["ranks"].fillna(s["world_size"]) if "world_size" in s else s["ranks"]
    defaults = {"group": "world", "nodes": 1, "span": "intra-node", "round": 0}
    for col, value in defaults.items():
        s[col] = s[col].fillna(value) if col in s else value
    if "shape" not in s:
        # One label per distinct rank count, not a Python call per sample (1M+ rows).
        labels = {n: f"{int(n)} = 1 node × {int(n)}" for n in s["ranks"].dropna().unique()}
        s["shape"] = s["ranks"].map(labels)
    return s


def slowest_per_iteration(samples: pd.DataFrame) -> pd.DataFrame:
    """One row per point x round x iteration: the slowest rank's time_s (the op's time, as
    nccl-tests). Samples without a round are round 0."""
    cols = POINT_KEYS + ["round", "iter", "time_s"]
    if samples.empty or "type" not in samples:
        return pd.DataFrame(columns=cols)
    coll = samples[samples["type"] == "coll"]
    if coll.empty:  # e.g. a training-only run: no collective columns at all
        return pd.DataFrame(columns=cols)
    coll = _with_defaults(coll)
    return coll.groupby(POINT_KEYS + ["round", "iter"], sort=False)["time_s"].max().reset_index()
