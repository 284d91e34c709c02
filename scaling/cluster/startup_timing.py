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
(scaling/collector/startup.py). At 10k GPUs NCCL's initialisation takes minutes; these are
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
        {
            "type": RECORD,
            "world_size": world_size,
            "group": group,
            "rank": a["rank"],
            "backend": backend,
            **{k: a["startup"][k] for k in PHASES},
            "setup_s": setup_s,
        }
        for a in answers
        if a and a.get("startup")
    ]
