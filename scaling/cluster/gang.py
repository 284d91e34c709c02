"""The actor gang: one placement group, one actor per rank, reused for every world size.

Ranks are sorted node-contiguously (nodes holding more ranks first, so a smaller
world size spans as few nodes as possible), then by GPU index. A process group
over the first n ranks is formed per world size and destroyed after it.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter

import ray
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from scaling import interrupts
from scaling.cluster import failures, relay, rendezvous
from scaling.cluster.connect import ClusterError
from scaling.cluster.group import Group, form, shape_label  # noqa: F401 (re-exported)
from scaling.cluster.worker import CONTROL_GROUP, RankActor


class GangError(RuntimeError):
    """A failure while the gang runs (hang, dead actor, workload exception)."""


def pick_device(requested: str, ranks: int) -> tuple[str, str | None]:
    """auto -> cuda when the Ray cluster offers GPUs, else cpu. Returns (device, notice)."""
    gpus = ray.cluster_resources().get("GPU", 0)
    if requested == "cuda" and gpus < 1:
        raise ClusterError("--device cuda, but the Ray cluster has no GPUs")
    if requested != "auto":
        return requested, None
    if gpus >= 1:
        return "cuda", None
    return "cpu", f"no GPUs in the Ray cluster: running {ranks} ranks on CPU with gloo"


def _alive_nodes() -> list[dict]:
    return [n for n in ray.nodes() if n.get("Alive")]


def check_capacity(size: int, device: str, placement: str, gpus_per_node: int | None) -> None:
    """Refuse, in one line, a gang the cluster cannot place (Ray would wait forever)."""
    key = "GPU" if device == "cuda" else "CPU"
    what = "GPUs" if device == "cuda" else "CPUs (one per CPU rank)"
    per_node = [int(n["Resources"].get(key, 0)) for n in _alive_nodes()]
    total = sum(per_node)
    if device == "cuda" and gpu_share(size) < 1.0:  # the shared-GPU test mode: one GPU will do
        if total < 1:
            raise ClusterError("SCALING_TEST_SHARE_GPU=1 needs one GPU; the Ray cluster has none")
        return
    if total < size:
        raise ClusterError(f"--gpus {size} needs {size} {what}, but the Ray cluster has {total}")
    if gpus_per_node:
        # Each node-bundle lands on its own node: the k-th largest need must fit the
        # k-th largest node (sorted element-wise match decides STRICT_SPREAD feasibility).
        needs = sorted(_node_counts(size, gpus_per_node), reverse=True)
        caps = sorted(per_node, reverse=True)
        if len(caps) < len(needs) or any(c < n for n, c in zip(needs, caps, strict=False)):
            raise ClusterError(
                f"--gpus-per-node {gpus_per_node} needs {len(needs)} nodes with up to "
                f"{gpus_per_node} {key} each; the Ray cluster's nodes have {caps}"
            )


def _node_counts(size: int, per_node: int) -> list[int]:
    """Ranks per node-bundle: full nodes, then the remainder."""
    counts = [per_node] * (size // per_node)
    return counts + ([size % per_node] if size % per_node else [])


def _bundles(size: int, device: str, placement: str, gpus_per_node: int | None):
    """Placement-group bundles and strategy, plus which bundle each rank goes in."""
    unit = {"GPU": gpu_share(size), "CPU": 1} if device == "cuda" else {"CPU": 1}
    if gpus_per_node:
        # One bundle per node holding `gpus_per_node` ranks; STRICT_SPREAD puts each on its own node.
        counts = _node_counts(size, gpus_per_node)
        bundles = [{k: v * c for k, v in unit.items()} for c in counts]
        slots = [b for b, c in enumerate(counts) for _ in range(c)]
        return bundles, "STRICT_SPREAD", slots
    # spread: Ray's SPREAD puts bundles on as many nodes as possible, evenly
    # (one rank per node while there are nodes enough); pack: as few as possible.
    strategy = "SPREAD" if placement == "spread" else "PACK"
    return [dict(unit) for _ in range(size)], strategy, list(range(size))


def order_ranks(metas: list[dict]) -> list[int]:
    """Indices of metas in rank order: node-contiguous, fuller nodes first, then GPU index."""
    per_node = Counter(m["node_id"] for m in metas)
    first_seen = {}
    for i, m in enumerate(metas):
        first_seen.setdefault(m["node_id"], i)
    node_key = {nid: (-cnt, first_seen[nid]) for nid, cnt in per_node.items()}

    def key(i: int):
        m = metas[i]
        gpu = m.get("gpu_index")
        return (node_key[m["node_id"]], gpu if gpu is not None else -1, i)

    return sorted(range(len(metas)), key=key)


class Gang:
    def __init__(
        self,
        size: int,
        device: str,
        placement: str = "pack",
        gpus_per_node: int | None = None,
        timeout_s: float = 300.0,
        env: dict[str, str] | None = None,
        threads_per_rank: int = 1,
    ):
        self.size, self.device, self.timeout_s, self.placement = size, device, timeout_s, placement
        self.broken = False
        # NCCL refuses two ranks on one GPU: the shared-GPU test mode runs CUDA tensors on gloo.
        self.backend = "nccl" if device == "cuda" and gpu_share(size) == 1.0 else "gloo"
        check_capacity(size, device, placement, gpus_per_node)
        bundles, strategy, slots = _bundles(size, device, placement, gpus_per_node)
        self.pg = placement_group(bundles, strategy=strategy)
        try:
            ray.get(self.pg.ready(), timeout=timeout_s)
        except ray.exceptions.GetTimeoutError:
            remove_placement_group(self.pg)
            raise ClusterError(
                f"Ray could not place {size} ranks ({strategy}) within {timeout_s:.0f}s"
            ) from None
        res = {"num_gpus": gpu_share(size), "num_cpus": 1} if device == "cuda" else {"num_cpus": 1}
        # The control group answers heartbeats while a rank is busy in a collective.
        cls = ray.remote(concurrency_groups={CONTROL_GROUP: 1}, **res)(RankActor)
        # This driver reports every rank failure itself (failures.py), in one line:
        # Ray's "Unhandled error" dump of the peers' errors would only bury the culprit.
        os.environ.setdefault("RAY_IGNORE_UNHANDLED_ERRORS", "1")
        actors = [
            cls.options(
                scheduling_strategy=PlacementGroupSchedulingStrategy(
                    placement_group=self.pg, placement_group_bundle_index=slot
                )
            ).remote(device, threads_per_rank, env or {})
            for slot in slots
        ]
        self._all = actors
        self.metas: list[dict] = []
        self.relays: relay.Relays | None = None
        try:
            metas = self.call(actors, "describe")
            if relay.wanted(size):  # one per node, from here on (relay.py)
                self.relays = relay.Relays(actors, metas)
            if device == "cuda":
                metas = self._share_gpus(actors, metas)
        except Exception:
            self.shutdown()
            raise
        order = order_ranks(metas)
        self.actors = [actors[i] for i in order]
        self.metas = [metas[i] for i in order]

    def _share_gpus(self, actors: list, metas: list[dict]) -> list[dict]:
        """Every rank sees its node's gang GPUs and picks its own (worker.py's docstring)."""
        per_node: dict[str, list[str]] = {}
        for m in metas:
            per_node.setdefault(m["node_id"], []).extend(m["ray_gpu_ids"])
        chosen = self.fan(actors, "select_device", [(per_node[m["node_id"]],) for m in metas])
        return [m | c for m, c in zip(metas, chosen, strict=True)]

    def call(self, actors: list, method: str, *args, timeout: float | None = None) -> list:
        """Call a method on every given actor concurrently and wait for all of them."""
        refs = [getattr(a, method).remote(*args) for a in actors]
        return self._wait(actors, refs, failures.label(method, args), timeout)

    def call_each(self, actors: list, method: str, args_per_actor: list, timeout=None) -> list:
        refs = [
            getattr(a, method).remote(*args) for a, args in zip(actors, args_per_actor, strict=True)
        ]
        return self._wait(actors, refs, failures.label(method, args_per_actor[0]), timeout)

    def call_each_tolerant(
        self, actors: list, method: str, args_per_actor: list, what: str, timeout: float
    ) -> list[tuple[object, str | None, bool]]:
        """Independent calls (no collective between them), one per actor: per actor (result,
        error, lost). One rank that dies, stops or fails costs its own result only; the others'
        come back. error names the rank in one line (failures.per_rank); lost: it died or did
        not finish, so nothing more should be asked of it."""
        refs = [
            getattr(a, method).remote(*args) for a, args in zip(actors, args_per_actor, strict=True)
        ]
        outcome = failures.collect(refs, timeout, grace_s=timeout)  # no early cut: independent
        alive = failures.heartbeats(actors, outcome.pending) if outcome.pending else {}
        who = [self.who(a) for a in actors]
        reasons = failures.per_rank(outcome, who, alive, what, timeout)
        return [(outcome.results[i], *reasons.get(i, (None, False))) for i in range(len(actors))]

    def fan(self, actors: list, method: str, args_per_actor=None, timeout=None) -> list:
        """call_each (call when args_per_actor is None), as one call per node through the
        node relays (relay.py): for the calls every rank gets once per world size."""
        args = [()] * len(actors) if args_per_actor is None else args_per_actor
        fanned = self.submit(actors, method, args)
        return self.gather(actors, fanned, failures.label(method, args[0] if args else ()), timeout)

    def gather(self, actors: list, fanned: relay.Fanned, what: str, timeout=None) -> list:
        """Every rank's answer to a submitted fan-out, or a GangError naming who failed."""
        limit = timeout or self.timeout_s
        outcome = fanned.expand(failures.collect(fanned.refs, limit))
        return self._results(actors, outcome, what, limit)

    def submit(self, actors: list, method: str, args_per_actor: list, keep=None) -> relay.Fanned:
        """Submit a call to every given actor, through its node's relay when the gang has them
        (keep: the keys of each answer the caller reads, relay.trim)."""
        if self.relays is None:  # a benchmark's stand-in gang (benchmarks/synthetic_ranks.py)
            return relay.submit_direct(actors, method, args_per_actor)
        return self.relays.submit(actors, method, args_per_actor, keep)

    def _wait(self, actors: list, refs: list, what: str, timeout: float | None) -> list:
        """All results, or a GangError naming the rank(s) that died, hung or failed."""
        limit = timeout or self.timeout_s
        return self._results(actors, failures.collect(refs, limit), what, limit)

    def _results(self, actors: list, outcome: failures.Outcome, what: str, limit: float) -> list:
        if outcome.ok:
            return outcome.results
        # A rank that failed mid-collective leaves the others inside it: the gang cannot
        # be reused or shut down politely.
        self.broken = True
        alive = failures.heartbeats(actors, outcome.pending)
        who = [self.who(a) for a in actors]
        raise GangError(failures.explain(outcome, who, alive, what, limit))

    def who(self, actor) -> dict:
        """Rank, host, pid and node of an actor (its gang position before ranks are known)."""
        rank = self._ranks().get(actor)
        if rank is None:
            return {"rank": None, "hostname": None, "pid": None, "node_id": None}
        m = self.metas[rank]
        return {"rank": rank, **{k: m.get(k) for k in ("hostname", "pid", "node_id")}}

    def _ranks(self) -> dict:
        """Actor -> rank, built once the ranks are ordered: naming each of N failed or waiting
        actors was a linear search each, N^2 at scale."""
        cached = getattr(self, "_rank_of", None)
        if cached is None or cached[0] is not self.metas:
            cached = (self.metas, {a: r for r, a in enumerate(self.actors)} if self.metas else {})
            self._rank_of = cached
        return cached[1]

    def members(self, n: int) -> list[int]:
        """Which of the gang's ranks form world size n, in rank order (node-contiguous).

        pack: the first n (fuller nodes first, so as few nodes as possible).
        spread: round-robin over nodes, so as many nodes as possible.
        """
        if self.placement != "spread":
            return list(range(n))
        by_node: dict[str, list[int]] = {}
        for i, m in enumerate(self.metas):
            by_node.setdefault(m["node_id"], []).append(i)
        queues, picked = list(by_node.values()), []
        while len(picked) < n:
            for q in queues:
                if q and len(picked) < n:
                    picked.append(q.pop(0))
        return sorted(picked)

    def planned_group(self, n: int, members: list[int] | None = None) -> Group:
        """World size n's members and torchrun numbering, without forming the group.
        members: the gang's rank indices to use instead (validate: the ranks still answering)."""
        idx = self.members(n) if members is None else list(members)
        metas = [self.metas[i] for i in idx]
        return Group([self.actors[i] for i in idx], rendezvous.assign_ranks(metas), metas)

    @contextlib.contextmanager
    def group(
        self,
        n: int,
        env: dict[str, str] | None = None,
        members: list[int] | None = None,
        read_log: bool = False,
        reduce_startup: bool = False,
    ):
        """Form a process group over world size n's members; destroy it on exit. The group's
        `startup` holds what forming it cost (cluster/startup_timing.py): the caller records it.
        read_log: also read NCCL's log once every rank has joined (the group's `links`), in
        the same relay call as the join (group.py). reduce_startup (--rank-samples slowest):
        `startup` per node through the relays (group.form)."""
        planned = self.planned_group(n, members)
        form(self, planned, env, read_log, reduce_startup)
        try:
            yield planned
        finally:
            if not self.broken:
                with contextlib.suppress(Exception):
                    self.fan(planned.actors, "destroy_group", timeout=min(60.0, self.timeout_s))

    def shutdown(self, grace_s: float = 10.0) -> None:
        """Graceful exit first (destroys groups), then ray.kill whatever is left.

        A broken gang (a rank died or hung inside a collective) is killed at once: a polite
        request would queue behind the stuck call and only add its grace time.
        """
        if self.broken or interrupts.hurried():  # a second Ctrl-C asks for no more waiting
            grace_s = 0.0
        if grace_s > 0:
            refs = [a.destroy_group.remote() for a in self._all]
            with contextlib.suppress(Exception):
                ray.wait(refs, num_returns=len(refs), timeout=grace_s)
            for a in self._all:
                with contextlib.suppress(Exception):
                    a.__ray_terminate__.remote()
            with contextlib.suppress(Exception):
                ray.wait(
                    [a.ping.remote() for a in self._all],
                    num_returns=len(self._all),
                    timeout=grace_s,
                )
        for a in self._all:
            with contextlib.suppress(Exception):
                ray.kill(a)
        if self.relays is not None:
            self.relays.kill()
        with contextlib.suppress(Exception):
            remove_placement_group(self.pg)


def gpu_share(size: int) -> float:
    """GPUs per rank: 1, or 1/size in the test mode SCALING_TEST_SHARE_GPU=1, where every rank
    of the gang shares one GPU over gloo (NCCL refuses two ranks on one GPU). It exists to run
    the multi-rank CUDA code path on a one-GPU machine (benchmarks/gpu/check.sh), never to
    measure: ranks sharing a GPU time each other's kernels."""
    return 1.0 / size if os.environ.get("SCALING_TEST_SHARE_GPU") == "1" else 1.0
