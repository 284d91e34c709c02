"""Start-up, collector layer (report/startup.py draws it): the slowest rank's time per phase.

Communicator start-up per world size and group: the slowest rank's time in each phase.

The records come from the ranks (scaling/cluster/startup_timing.py says what each phase is). A
group is ready when its slowest rank is, so each phase's figure is the maximum over ranks;
`slowest_rank` is the rank with the longest rendezvous + init + first collective. setup_s is
the driver's wall time for the whole formation (Ray's calls included).

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
            total = one[PHASES].sum(axis=1)
            rows.append(
                {
                    "world_size": int(n),
                    "group": group,
                    "ranks": len(one),
                    "backend": one["backend"].iloc[0],
                    **{p: float(one[p].max()) for p in PHASES},
                    "setup_s": float(one["setup_s"].max()),
                    "slowest_rank": int(one.loc[total.idxmax(), "rank"]),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


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
