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
from scaling.workloads.catalog import PointKey, key_names
from scaling.workloads.collectives import POINT_KEYS as DECLARED
from scaling.workloads.collectives import ops

POINT_KEYS = key_names(DECLARED)
"""The summary's row keys: the collectives workload's declared point keys, in their order."""
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
    "wrong_ranks",
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
    table = _name_wrong_ranks(table, samples)
    table = join_transport(_join_links(table, samples), samples)
    return _whole_numbers(table[SUMMARY_COLUMNS])


def _name_wrong_ranks(table: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """wrong_ranks: the world ranks that had a wrong element in any round of the point, as
    "1 3" (empty when none did or the check was off), so a verdict can name them."""
    named = wrong_ranks(samples)
    if named.empty:
        table["wrong_ranks"] = None
        return table
    rounds = named.groupby(POINT_KEYS, sort=False, dropna=False)["wrong_ranks"]
    merged = rounds.agg(lambda lists: " ".join(map(str, sorted({r for x in lists for r in x}))))
    return table.merge(merged.reset_index(), on=POINT_KEYS, how="left")


def _whole_numbers(table: pd.DataFrame) -> pd.DataFrame:
    """The declared whole-number keys as integers: the samples frame mixes record types, some
    without these keys, so pandas holds them as floats (summary.csv said "1024.0" bytes)."""
    for k in DECLARED:
        if k.kind is int and k.name in table and table[k.name].notna().all():
            table[k.name] = table[k.name].astype("int64")
    return table


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
    """Fill point keys older or hand-written sample files lack, as the workload declares them
    (a group's ranks = its world size), and round 0.

    Samples the tool writes have every key: then the frame comes back as is, uncopied.
    """
    filled = [k for k in DECLARED if k.fills]
    if (
        "round" in samples
        and not samples["round"].isna().any()
        and all(k.name in samples and not samples[k.name].isna().any() for k in filled)
    ):
        return samples
    s = samples.copy()
    for k in filled:
        s[k.name] = _filled(s, k)
    s["round"] = s["round"].fillna(0) if "round" in s else 0
    return s


def _filled(s: pd.DataFrame, k: PointKey):
    """Key k's column with its declared default where missing (a whole column when absent)."""
    if k.same_as is not None:
        if k.same_as not in s:
            return s.get(k.name)
        source = s[k.same_as]
        if k.derive is not None:
            # One value per distinct source value, not a Python call per sample (1M+ rows).
            labels = {v: k.derive(v) for v in source.dropna().unique()}
            source = source.map(labels)
        value = source
    else:
        value = k.default
    return s[k.name].fillna(value) if k.name in s else value


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


def wrong_ranks(samples: pd.DataFrame) -> pd.DataFrame:
    """Which ranks had a wrong element, per point and round: one row each (POINT_KEYS, round,
    wrong_ranks: sorted world ranks), only for checks that found one. Reads both forms of a
    check: one record per rank (its "rank" and "wrong"), or one per group reduced on the
    ranks (--rank-samples slowest: "wrong_ranks", the group's list)."""
    cols = POINT_KEYS + ["round", "wrong_ranks"]
    if samples.empty or "type" not in samples or "wrong" not in samples:
        return pd.DataFrame(columns=cols)
    checks = _with_defaults(samples[samples["type"] == "check"])
    named: dict[tuple, set] = {}
    listed = checks["wrong_ranks"] if "wrong_ranks" in checks else pd.Series(None, checks.index)
    ranks = checks["rank"] if "rank" in checks else pd.Series(np.nan, checks.index)
    keys = checks[POINT_KEYS + ["round"]].itertuples(index=False, name=None)
    for key, wrong, rank, group in zip(keys, checks["wrong"], ranks, listed, strict=True):
        if isinstance(group, list):
            ranks_here = group
        elif pd.notna(wrong) and wrong > 0 and pd.notna(rank):
            ranks_here = [int(rank)]
        else:
            continue
        if ranks_here:
            named.setdefault(key, set()).update(int(r) for r in ranks_here)
    rows = [[*key, sorted(found)] for key, found in named.items()]
    return pd.DataFrame(rows, columns=cols)
