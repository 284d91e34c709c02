"""Synthetic ranks for benchmarks/driver_scale.py: a few actors answer for N ranks with
samples recorded from real ranks, measuring nothing, so the driver sees N ranks' calls and
payloads as a real gang's driver would.

Answerer j of k answers ranks j, j+k, ...; Ray runs one actor's calls in submission order,
so it knows which rank each call is for (in plan_run's leader mode: rank 0's chunks, and the
followers' one call each). A reduced point (--rank-samples slowest) is answered
as bench.slowest_only answers it: the group's rank 0 carries the slowest times, the group's
#wrong and its wrong ranks; the others send nothing.
"""

from __future__ import annotations

from types import SimpleNamespace

import ray

from scaling.cluster.gang import Gang


class Answerer:
    """Answers `run_points` (and `run`, for the per-point shape) for many synthetic ranks.
    It fetches each plan once, as a rank does (worker.py `run_points`)."""

    def __init__(self, recorded: list[dict], j: int, k: int):
        self.recorded, self.j, self.k, self.calls, self.plan = recorded, j, k, 0, (None, [])
        self.led = None  # the plan whose chunks come from rank 0 alone

    def _rank(self, n: int) -> int:
        mine = len(range(self.j, n, self.k))
        rank = self.j + self.k * (self.calls % mine)
        self.calls += 1
        return rank

    def _answer(self, rank: int, spec: dict) -> dict:
        n = spec["world_size"]
        times = self.recorded[rank % len(self.recorded)]["times"]
        times = (times * (spec["iters"] // len(times) + 1))[: spec["iters"]]
        if spec.get("rank_samples") == "slowest":  # what a reduced rank sends (bench.run_point)
            if rank:
                return {"times": [], "member": True, "reduced": True}
            slowest = [r % n for r in range(len(times))]
            return {"times": times, "slowest_ranks": slowest, "wrong": 0, "wrong_ranks": [],
                    "member": True, "reduced": True}  # fmt: skip
        return {"times": times, "wrong": 0, "member": True}

    def _fetch(self, plan: list) -> list:
        if self.plan[0] != plan[0].hex():
            self.plan = (plan[0].hex(), ray.get(plan[0]))
        return self.plan[1]

    def run(self, target, spec: dict) -> dict:
        return self._answer(self._rank(spec["world_size"]), spec)

    def run_points(self, plan: list, start: int, stop: int) -> dict:
        whole = self._fetch(plan)
        specs = [spec for _, spec in whole[start:stop]]
        if (start, stop) == (0, len(whole)) and len(whole) > 1:
            # a follower's one call (plan_run's leader mode): submitted before rank 0's first
            # chunk, so every later chunk of this plan here is rank 0's
            self.led, rank = plan[0].hex(), 1 + self.j
        elif self.led == plan[0].hex():
            rank = 0
        else:
            rank = self._rank(specs[0]["world_size"])
        results = [self._answer(rank, spec) for spec in specs]
        return {"start": start, "results": results, "nccl": [None] * len(results), "seconds": 0.0}


def group_view(n: int, actors: list) -> SimpleNamespace:
    """What `records` and sweep._points read from a group: 8 ranks per node, as a GPU
    cluster would have."""
    nodes = max(1, -(-n // 8))
    return SimpleNamespace(
        actors=actors,
        metas=[{}] * n,
        nodes=nodes,
        span="inter-node" if nodes > 1 else "intra-node",
        shape=f"{n} = {nodes} nodes × {min(n, 8)}",
    )


def fake_gang(timeout_s: float = 600.0) -> Gang:
    # Gang.call and its wait are the code under test; the synthetic ranks need no placement.
    gang = object.__new__(Gang)
    gang.timeout_s, gang.broken, gang.metas, gang.relays = timeout_s, False, [], None
    return gang
