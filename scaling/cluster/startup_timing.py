"""Communicator start-up: what forming one process group cost, per rank, as sample records.

Each rank times three phases of joining a group (RankActor.init_group), with its own
monotonic clock, so no clocks are compared across hosts:

- rendezvous_s: reaching the group's TCP store (rank 0: binding it; the others: connecting).
- init_s: torch.distributed.init_process_group. It returns when every rank has joined, so it
  includes waiting for the slowest. On NCCL the gang passes device_id, and torch creates
  NCCL's communicator here (eager initialisation).
- first_collective_s: a one-element all_reduce, to completion. Where initialisation is lazy
  (no device_id, older torch, gloo's first round trip) this is where the connections are made.

And one figure from the driver, the same on every rank's record:

- setup_s: wall time from asking rank 0 for the store until every rank had joined (Ray's
  calls included): what a world size costs before its first measured point.

A group is ready when its slowest rank is: the collector reports the maximum over ranks
(scaling/collector/startup.py). Under --rank-samples slowest the node relays send that already
reduced (`summary`): one record per node, each phase's maximum over its ranks, how many ranks,
and its slowest rank with that rank's total, from which the collector's figures are the same
as from the per-rank records (tests/test_startup_reduced.py). At 10k GPUs NCCL's initialisation takes minutes; these are
the figures that show where a run is on that curve.
"""

from __future__ import annotations

RECORD = "startup"
PHASES = ("rendezvous_s", "init_s", "first_collective_s")


def records(
    answers: list[dict], world_size: int, group: str, backend: str, setup_s: float
) -> list[dict]:
    """One "startup" record per rank from init_group's answers (ranks without times skipped)."""
    return [
        _record(world_size, group, a["rank"], backend, [a["startup"][k] for k in PHASES], setup_s)
        for a in answers
        if a and a.get("startup")
    ]


def _record(world_size: int, group: str, rank: int, backend: str, times, setup_s: float) -> dict:
    return {"type": RECORD, "world_size": world_size, "group": group, "rank": rank,
            "backend": backend, **dict(zip(PHASES, times, strict=True)), "setup_s": setup_s}  # fmt: skip


def summary(answers: list[dict]) -> tuple | None:
    """A node's init_group answers reduced (a relay's join under --rank-samples slowest):
    (first rank, ranks, each PHASES' maximum, the slowest rank, its total), the slowest being
    the first in rank order with the largest rendezvous + init + first collective, as the
    collector picks it from per-rank records; None when no rank has times."""
    timed = sorted((a["rank"], [a["startup"][k] for k in PHASES]) for a in answers
                   if a and a.get("startup"))  # fmt: skip
    if not timed:
        return None
    # summed in PHASES' order, as the collector sums a per-rank record's columns
    totals = [(t[0] + t[1] + t[2], r) for r, t in timed]
    best = max(totals, key=lambda x: x[0])  # max keeps the first of equals: the lowest rank
    peaks = [max(t[i] for _, t in timed) for i in range(len(PHASES))]
    return (timed[0][0], len(timed), *peaks, best[1], best[0])


def reduced_records(
    summaries: list[tuple], world_size: int, group: str, backend: str, setup_s: float
) -> list[dict]:
    """One "startup" record per node from the relays' `summary`s, in rank order."""
    return [
        {
            **_record(world_size, group, s[0], backend, s[2:5], setup_s),
            "ranks": s[1],
            "slowest_rank": s[5],
            "slowest_s": s[6],
        }
        for s in sorted(x for x in summaries if x)
    ]
