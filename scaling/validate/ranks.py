"""Who every rank of a validation is, which ones still answer, and calls that tolerate the rest.

Ranks keep the gang's order (node by node, then GPU), and that index is "the rank" in
validate.json, the progress lines and SCALING_FAULTS. Nodes are named by hostname; where
several Ray nodes share one (nodes started on one machine) a node is "<host>-<first 8 of its
Ray node id>", so every node keeps its own verdicts.

A rank that died, stopped or hung in a check is *lost*: its result for that check is the
error naming it (gang.call_each_tolerant), and it is asked nothing more; each later check
records it as not measured, with the same reason. The others carry on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


@dataclass
class Rank:
    rank: int
    node: str
    node_index: int
    meta: dict
    model: str | None
    local: int = 0
    """Position among its node's ranks."""

    def who(self) -> dict:
        """What the rank side and the records name it by (faults.whoami reads it)."""
        m = self.meta
        gpu = m.get("gpu_index")  # a CPU rank has none: it goes by its rank number
        return {"rank": self.rank, "node": self.node, "node_index": self.node_index,
                "hostname": m.get("hostname"), "gpu": gpu if isinstance(gpu, int) else self.rank,
                "uuid": m.get("gpu_uuid"), "model": self.model, "device": m.get("device")}  # fmt: skip


def node_names(metas: list[dict]) -> dict[str, str]:
    """Ray node id -> the node's name (hostname, made unique where hosts share one)."""
    hosts = {}
    for m in metas:
        hosts.setdefault(m["node_id"], m.get("hostname") or m["node_id"][:8])
    count = Counter(hosts.values())
    return {nid: h if count[h] == 1 else f"{h}-{nid[:8]}" for nid, h in hosts.items()}


class Ranks:
    def __init__(self, gang):
        self.gang = gang
        names = node_names(gang.metas)
        order = list(dict.fromkeys(m["node_id"] for m in gang.metas))
        self.ranks: list[Rank] = []
        seen: Counter = Counter()
        for i, m in enumerate(gang.metas):
            model = m.get("gpu_name") or "cpu"
            r = Rank(i, names[m["node_id"]], order.index(m["node_id"]), m, model)
            r.local = seen[m["node_id"]]
            seen[m["node_id"]] += 1
            self.ranks.append(r)
        self.lost: dict[int, str] = {}

    def set_cpu_models(self, snapshots: dict) -> None:
        """CPU ranks take their node's CPU model (from its snapshot) as their "model", so the
        fleet rules compare like with like."""
        for r in self.ranks:
            cpu = (snapshots.get(r.meta["node_id"]) or {}).get("host", {}).get("cpu_model")
            if r.meta.get("device") == "cpu" and cpu:
                r.model = str(cpu)

    @property
    def nodes(self) -> list[str]:
        return list(dict.fromkeys(r.node for r in self.ranks))

    def of_node(self, node: str) -> list[Rank]:
        return [r for r in self.ranks if r.node == node]

    def live(self, ranks: list[Rank] | None = None) -> list[Rank]:
        return [r for r in (self.ranks if ranks is None else ranks) if r.rank not in self.lost]

    def gone(self, r: Rank) -> str:
        return f"rank {r.rank} gave no answer earlier: {self.lost[r.rank]}"

    def call(
        self, ranks: list[Rank], target: str, specs: list[dict], what: str, timeout: float
    ) -> list[tuple]:
        """The rank side of a check on each rank (spec per rank); per rank (result, error)."""
        return self.call_method(ranks, "run", [(target, s) for s in specs], what, timeout)

    def call_method(
        self, ranks: list[Rank], method: str, args: list[tuple], what: str, timeout: float
    ) -> list[tuple]:
        """A RankActor method on each rank (args per rank); per rank (result, error). Lost
        ranks are skipped (their error says why); a rank lost now is remembered."""
        live = [(r, a) for r, a in zip(ranks, args, strict=True) if r.rank not in self.lost]
        answers = {}
        if live:
            actors = [self.gang.actors[r.rank] for r, _ in live]
            got = self.gang.call_each_tolerant(actors, method, [a for _, a in live], what, timeout)
            for (r, _), (result, error, lost) in zip(live, got, strict=True):
                answers[r.rank] = (result, error)
                if lost:
                    self.lost[r.rank] = error
        return [answers.get(r.rank, (None, self.gone(r) if r.rank in self.lost else None))
                for r in ranks]  # fmt: skip
