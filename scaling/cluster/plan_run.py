"""A world size's whole plan of points, run by the ranks themselves, a chunk per Ray call.

The driver used to call every rank once per point: at N ranks, N calls submitted and N
answers awaited per point, 0.44 ms per rank per point on the development VM, 190x the
measuring time of the standard sweep at 1,024 ranks by the model (docs/scale.md). Here the
plan (every point of every round, in run order) is put in Ray's object store once per world
size, each rank fetches it once, and each call asks every rank to run a consecutive chunk of
it (worker.py `run_points`). Every rank runs the same points in the same order, so they meet
in the same collectives, and each point still starts with its own warm-up and barriers.

Chunks: the first is one point, which gives the pace; each later one holds as many points as
fill CHUNK_S at the last chunk's pace on the ranks. A world size of fast points is then two calls per rank, and
a long one a call per rank every CHUNK_S: progress and samples.jsonl advance at least that
often, and a driver killed outright (SIGKILL) loses at most one chunk.

Nothing finished is lost on the way out. On an interrupt, or when a chunk fails, every rank
that still answers is asked (on its control thread, like a heartbeat) which points of the
chunk it has finished; the points finished by every rank of the group go to the run
directory before the interrupt or the error goes on. The culprit of a failed chunk is named
as before (failures.py), for the point the ranks were at, and each point still gets --timeout
(the ranks' heartbeats say how long they have been in their current point).
"""

from __future__ import annotations

from collections.abc import Callable

import ray

from scaling.cluster import failures
from scaling.cluster.gang import Gang, GangError

CHUNK_S = 5.0
"""Target wall time of one chunk after the first: the driver's calls per rank are about
2 + measuring time / CHUNK_S per world size."""
SALVAGE_S = 2.0
"""How long an interrupted run waits for the ranks to say which points they finished."""

Arrived = Callable[[int, list, list], None]
"""(index in the plan, per-rank results, per-rank NCCL log of the point) -> None."""


def next_chunk(done: int, total: int, last: tuple[int, float], target_s: float = CHUNK_S) -> int:
    """How many points the next call asks for: one first (the pace is unknown), then as many
    as fill target_s at the last chunk's pace on the ranks (last: points, the slowest rank's
    seconds in them; a slow first point, cold caches or a first communicator, does not hold
    the rest back), at least one and at most what is left."""
    if done == 0:
        return min(1, total)
    points, seconds = last
    fill = int(target_s * points / seconds) if seconds > 0 else total
    return max(1, min(total - done, fill))


def run(gang: Gang, actors: list, plan: list[tuple], labels: list[str], arrived: Arrived) -> int:
    """Run every (target, spec) of `plan` on `actors`, in order; `arrived` gets each point as
    soon as its chunk is back (or salvaged). Returns the number of Ray calls per rank made.
    Raises GangError naming the culprit rank when a chunk fails."""
    box = [ray.put(plan)]  # pickled once per world size; the ranks fetch it once
    done, calls, last = 0, 0, (0, 0.0)
    while done < len(plan):
        k = next_chunk(done, len(plan), last)
        answers = _chunk(gang, actors, box, done, done + k, labels, arrived)
        # the ranks' own time: the driver's part of a call does not shrink with fewer points
        last, calls = (k, max(a.get("seconds", 0.0) for a in answers)), calls + 1
        for j in range(k):
            arrived(done + j, [a["results"][j] for a in answers], [a["nccl"][j] for a in answers])
        done += k
    return calls


def _chunk(gang, actors, box, start: int, stop: int, labels, arrived: Arrived) -> list[dict]:
    refs = [a.run_points.remote(box, start, stop) for a in actors]
    alive = None
    try:
        outcome = failures.collect(refs, gang.timeout_s)
        # Each point gets --timeout, as when each was its own call: every --timeout the
        # ranks still running say what they are doing (a heartbeat, on their control
        # thread); the wait goes on while every one answers and none has been in its
        # current point for longer.
        while outcome.pending and not outcome.errors:
            alive = failures.heartbeats(actors, outcome.pending)
            if any(b is None or (b.get("for_s") or 0) >= gang.timeout_s for b in alive.values()):
                break
            outcome, alive = failures.collect(refs, gang.timeout_s), None
    except KeyboardInterrupt:
        salvage(ask_finished(actors), len(actors), start, arrived, SALVAGE_S)
        raise
    if outcome.ok:
        return outcome.results
    # A rank that failed mid-collective leaves the others inside it: the gang cannot be
    # reused or shut down politely.
    gang.broken = True
    asked = ask_finished(actors)  # answered while the heartbeats are awaited
    alive = alive if alive is not None else failures.heartbeats(actors, outcome.pending)
    hung = {i for i in outcome.pending if alive.get(i) is None}  # will not answer either
    asked = {i: ref for i, ref in asked.items() if i not in hung}
    at = salvage(asked, len(actors), start, arrived, failures.HEARTBEAT_S)
    what = labels[min(at, stop - 1)]
    who = [gang.who(a) for a in actors]
    raise GangError(failures.explain(outcome, who, alive, what, gang.timeout_s))


def ask_finished(actors: list) -> dict:
    """Ask every rank, on its control thread, which points of the chunk it has finished."""
    return {i: a.finished.remote() for i, a in enumerate(actors)}


def salvage(refs: dict, ranks: int, start: int, arrived: Arrived, timeout_s: float) -> int:
    """Hand `arrived` the chunk's points that every rank finished, when every rank answers
    (refs: ask_finished's). Returns the plan index the answering ranks had reached (the
    first one's unfinished point): the point a failure happened at."""
    ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout_s)
    done = {}
    for i, ref in refs.items():
        if ref in ready:
            try:
                got = ray.get(ref)
            except ray.exceptions.RayError:
                continue
            # a rank that had not begun this chunk still shows the last one's: none finished
            done[i] = got if got["start"] == start else {"results": [], "nccl": []}
    counts = [len(d["results"]) for d in done.values()] or [0]
    if len(done) == ranks:
        for j in range(min(counts)):
            arrived(
                start + j,
                [done[i]["results"][j] for i in range(ranks)],
                [done[i]["nccl"][j] for i in range(ranks)],
            )
    return start + min(counts)
