"""Inside each node: its all_reduce over all its ranks, and its GPU-pair matrix.

Every node with two or more ranks gets a process group of its own ranks (groups.py), all
nodes side by side; inside it the group's ranks are numbered in rank order. A node whose
rank was lost earlier, or whose group does not form, has its all_reduce and its pairs
recorded as not measured, with the reason, so they FAIL rather than vanish.
"""

from __future__ import annotations

from itertools import combinations

from scaling.cluster.memory_fit import PROCESS_BYTES, USABLE, rank_bytes
from scaling.config.allreduce_bars import source_size
from scaling.validate import groups
from scaling.validate.ranks import Rank, Ranks
from scaling.workloads.checks import group_collective, p2p

COMM_MARGIN_S = 20.0
"""Beyond --timeout for a collective call: gloo/NCCL time out a stuck peer after --timeout
themselves, and the driver must hear their error, not mistake them for hung ranks too."""


def as_results(ranks: list[Rank], answers: list[tuple], **extra) -> list[dict]:
    """Rank answers as records' inputs: a failure becomes {"who", "error", ...extra}."""
    return [res if error is None and res is not None else
            {"who": r.who(), "error": error or "no result came back", **extra}
            for r, (res, error) in zip(ranks, answers, strict=True)]  # fmt: skip


def _allreduce_point(node: str, world: int) -> dict:
    return {"workload": group_collective.WORKLOAD.name, "check": "allreduce",
            "group_id": f"node:{node}", "world_size": world}  # fmt: skip


def lost_node(node: str, members: list[Rank], why: str, pairs: bool) -> list[dict]:
    """A node's all_reduce (and pairs) as not measured."""
    point = _allreduce_point(node, len(members))
    out = group_collective.WORKLOAD.records(
        point,
        None,
        [{"who": r.who(), "error": why, "group_id": point["group_id"]} for r in members],
    )
    if pairs:
        out += [x for a, b in combinations(members, 2) for x in _lost_pair(a, b, why)]
    return out


def node_groups(ranks: Ranks, env: dict, backend: str, timeout: float, pairs: bool):
    """(groups.Formed per node that formed, records of the nodes that could not be measured)."""
    wanted, out = [], []
    for node in ranks.nodes:
        members = ranks.of_node(node)
        if len(members) < 2:
            continue
        lost = [r for r in members if r.rank in ranks.lost]
        if lost:
            out += lost_node(
                node, members, f"needs all the node's ranks; {ranks.gone(lost[0])}", pairs
            )
        else:
            wanted.append(members)
    formed = (
        groups.form(ranks, wanted, env, backend, timeout, "a node's process group")
        if wanted
        else []
    )
    for f in formed:
        if f.error:
            out += lost_node(
                f.members[0].node, f.members, f"its process group did not form: {f.error}", pairs
            )
    return [f for f in formed if not f.error], out


def node_allreduce(ranks: Ranks, formed: list, cfg, timeout: float) -> list[dict]:
    """Each node's all_reduce over its ranks, all nodes side by side."""
    wl, calls, specs = group_collective.WORKLOAD, [], []
    for f in formed:
        point = group_collective.spec(
            "allreduce", allreduce_bytes(cfg, f.members), f"node:{f.members[0].node}"
        )
        calls += f.members
        specs += [point | {"world_size": len(f.members), "who": r.who()} for r in f.members]
    if not calls:
        return []
    answers = ranks.call(calls, wl.rank, specs, "the node's all_reduce", timeout + COMM_MARGIN_S)
    results = [res if err is None else {"who": r.who(), "error": err, "group_id": s["group_id"]}
               for r, (res, err), s in zip(calls, answers, specs, strict=True)]  # fmt: skip
    return wl.records(_allreduce_point("", len(calls)), None, results)


def allreduce_bytes(cfg, members: list[Rank]) -> int | None:
    """The node all_reduce's message size: comm_bytes when set; else, on GPUs, the size of the
    public bar for the node's model and shape (16 GiB on 8x H100/H200: Azure NHC measures
    there) when the GPU's memory holds the buffers and the exact check; else None (the level's
    default, judged against a public curve at that size: config/allreduce_bars.py)."""
    if cfg.validate.comm_bytes:
        return cfg.validate.comm_bytes
    meta = members[0].meta
    size = source_size(members[0].model, len(members))
    total = meta.get("gpu_total_bytes")
    if meta.get("device") != "cuda" or size is None or not total:
        return None
    need = rank_bytes("all_reduce", size, len(members), "float32", True) + PROCESS_BYTES["cuda"]
    return size if need <= USABLE * total else None


def pairwise(ranks: Ranks, formed: list, cfg, timeout: float, progress) -> list[dict]:
    """Every pair of every node, each direction; one pair per node at a time (pairs sharing a
    switch or NVLink would disturb each other), the nodes side by side."""
    pairs = {f.members[0].node: list(combinations(f.members, 2)) for f in formed}
    local = {r.rank: i for f in formed for i, r in enumerate(f.members)}
    out: list[dict] = []
    steps = max((len(p) for p in pairs.values()), default=0)
    for k in range(steps):
        batch = []
        for node_pairs in pairs.values():
            if k >= len(node_pairs):
                continue
            a, b = node_pairs[k]
            gone = [r for r in (a, b) if r.rank in ranks.lost]
            if gone:
                out += _lost_pair(a, b, ranks.gone(gone[0]))
            else:
                batch.append((a, b))
        if batch:
            out += _measure_pairs(ranks, local, batch, cfg, timeout)
        progress(k + 1, steps)
    return out


def _lost_pair(a: Rank, b: Rank, why: str) -> list[dict]:
    return [{"type": "validate", "workload": "p2p", "check": "p2p", **x.who(), "peer_rank": y.rank,
             "error": why} for x, y in ((a, b), (b, a))]  # fmt: skip


def _measure_pairs(ranks: Ranks, local: dict, batch: list[tuple[Rank, Rank]], cfg, timeout: float):
    """One pair of each node in `batch`, side by side; pair members are numbered as in their
    node's group, and every rank finds its own pair in the point."""
    wl, members = p2p.WORKLOAD, [r for ab in batch for r in ab]
    peers = {a.rank: b for a, b in batch} | {b.rank: a for a, b in batch}
    specs = []
    for r in members:
        mine = [[local[a.rank], local[b.rank]] for a, b in batch if r in (a, b)]
        peer = peers[r.rank]
        specs.append(p2p.spec(mine, cfg.validate.comm_bytes) | {
            "world_size": 2, "who": r.who(), "who_of": {local[peer.rank]: peer.who()}})  # fmt: skip
    answers = ranks.call(members, wl.rank, specs, "a GPU-pair transfer", timeout + COMM_MARGIN_S)
    results = [res if err is None else {"who": r.who(), "error": err, "peer_rank": peers[r.rank].rank}
               for r, (res, err) in zip(members, answers, strict=True)]  # fmt: skip
    return wl.records(specs[0], None, results)


def transports(ranks: Ranks, formed: list, backend: str) -> dict[str, str]:
    """node -> the transport NCCL reported for its ranks' links (gloo: TCP, known without asking)."""
    if backend != "nccl":
        return {}
    out = {}
    for f in formed:
        got = ranks.call_method(
            f.members, "nccl_links", [()] * len(f.members), "reading NCCL's log", 30.0
        )
        found = sorted({t for res, err in got if res for t in res.get("transports", [])})
        out[f.members[0].node] = ", ".join(found) if found else "not reported by NCCL"
    return out
