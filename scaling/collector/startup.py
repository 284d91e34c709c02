"""Start-up, collector layer (report/startup.py draws it): the slowest rank's time per phase.

Communicator start-up per world size and group: the slowest rank's time in each phase.

The records come from the ranks (scaling/cluster/startup_timing.py says what each phase is). A
group is ready when its slowest rank is, so each phase's figure is the maximum over ranks;
`slowest_rank` is the rank with the longest rendezvous + init + first collective. setup_s is
the driver's wall time for the whole formation (Ray's calls included). Under --rank-samples
slowest a record stands for a node's ranks (its "ranks", "slowest_rank" and that rank's total
"slowest_s"; cluster/startup_timing.summary): the figures are the same as from per-rank records.

    startup_table(samples)        # startup.csv rows, one per (world size, group)
    compare_startup(base, new)    # the same figures side by side, per world size
"""

from __future__ import annotations

import pandas as pd

RECORD = "startup"  # the records' type (scaling/cluster/startup_timing.py; no import upward)
PHASES = ["rendezvous_s", "init_s", "first_collective_s"]
COLUMNS = ["world_size", "group", "ranks", "backend", *PHASES, "setup_s", "slowest_rank"]
COMPARED = ["init_s", "first_collective_s", "setup_s"]


def startup_table(samples: pd.DataFrame) -> pd.DataFrame:
    """One row per (world size, group) formed; empty (with the columns) when none was recorded
    (a run from before start-up was recorded)."""
    if samples.empty or "type" not in samples:
        return pd.DataFrame(columns=COLUMNS)
    recs = samples[samples["type"] == RECORD]
    if recs.empty or not set(PHASES) <= set(recs.columns):
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    # A group formed twice (tune reopens one for another NCCL setting) keeps each formation.
    for (n, group), g in recs.groupby(["world_size", "group"], sort=False):
        for _, one in g.groupby(g["rank"].eq(g["rank"].iloc[0]).cumsum(), sort=False):
            ranks, total, who = _per_rank_or_node(one)
            rows.append(
                {
                    "world_size": int(n),
                    "group": group,
                    "ranks": ranks,
                    "backend": one["backend"].iloc[0],
                    **{p: float(one[p].max()) for p in PHASES},
                    "setup_s": float(one["setup_s"].max()),
                    "slowest_rank": int(who[total.idxmax()]),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def _per_rank_or_node(one: pd.DataFrame) -> tuple[int, pd.Series, pd.Series]:
    """How many ranks a formation's records stand for, each record's slowest total, and whose:
    a per-rank record is its own rank and its phases' sum; a node's reduced record carries
    its ranks, its slowest rank and that rank's total."""
    total, who = one[PHASES].sum(axis=1), one["rank"]
    if "slowest_s" not in one:  # ("ranks" alone is no sign: the points' records have it)
        return len(one), total, who
    node = one["slowest_s"].notna()
    total = total.where(~node, one["slowest_s"])
    who = who.where(~node, one["slowest_rank"])
    return int(one["ranks"].fillna(1).sum()), total, who


def compare_startup(base: list[pd.DataFrame], new: list[pd.DataFrame]) -> pd.DataFrame:
    """Per world size (the world group, its first formation), base's and new's start-up
    figures (the median over each side's runs' samples) and new/base. One formation per run:
    a figure to read, not a judged change."""
    b, n = (_median_world([_world(startup_table(s)) for s in side]) for side in (base, new))
    both = b.merge(n, on="world_size", suffixes=("_base", "_new"), how="inner")
    for c in COMPARED:
        both[f"{c}_ratio"] = both[f"{c}_new"] / both[f"{c}_base"].where(both[f"{c}_base"] > 0)
    keep = ["world_size"] + [f"{c}_{s}" for c in COMPARED for s in ("base", "new", "ratio")]
    return both[keep].sort_values("world_size").reset_index(drop=True)


def _median_world(tables: list[pd.DataFrame]) -> pd.DataFrame:
    both = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if both.empty:
        return pd.DataFrame(columns=["world_size", *COMPARED])
    return both.groupby("world_size", as_index=False)[list(COMPARED)].median()


def _world(table: pd.DataFrame) -> pd.DataFrame:
    world = table[table["group"] == "world"].drop_duplicates("world_size")
    return world[["world_size", *COMPARED]]
