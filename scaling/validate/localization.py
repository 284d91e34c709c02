"""Across nodes: the real group test behind the adaptive localisation, and what it must reach.

A group test over some nodes is a collective ([validate] group_op: all_to_all by default, or
all_reduce) over every rank still answering on each of those nodes, in a process group of
just those ranks (groups.py). An all_to_all crosses every pair of the group's nodes; an
all_reduce only ring neighbours (below). With all of a node's GPUs
in the group, NCCL sends each GPU's share through the NIC nearest it, so every rail of every
node carries traffic (one rank per node would use one NIC, and a dead rail would pass;
docs/validate-fabric.md). The disjoint tests of a round run side by side
(collector/validate/localize.py decides which groups to test), and each test pays for
forming its group as a job would. It passes when every member answers, the result is exact
and the busbw reaches the bar:

1. the public minimum ([validate] inter_node_min_busbw_gbps), else
2. the healthy fraction of the network ceiling (the rails the ranks' GPUs sit nearest,
   hardware/topology.py), else
3. a fraction of a reference measured first: node-pair tests of the same op over at most
   REFERENCE_NODES nodes spread over the cluster, in rounds of all pairs until each of them
   has had two partners (one, with two nodes), reference = median over those nodes of each
   node's best pair (group_tests.reference_rounds, internode.py). These tests are steps of the
   localisation (phase "reference") and count in its totals.

Under all_to_all a group's busbw depends on its shape (ranks, ranks per node), so the bar is
kept on each node's inter-node bandwidth and turned into busbw per test (internode.GroupBar).

Under all_reduce, the ring order of a group test is the order of its request's nodes: groups.form gives group
ranks node by node in that order, and ring all_reduce (gloo's, and NCCL's ring across nodes)
sends from each rank to the next, so the ring crosses between nodes where one node's ranks
end and the next one's begin. The search (collector/validate/localize.py) varies that order
between screens so that every pair of nodes is neighbours in some tested ring.

A node none of whose ranks answers any more is missing from every test (it FAILs with
NO_MEASUREMENT and leaves play); a member lost inside a test makes its node missing.

Where every node is on one host (Ray nodes started on one machine, as the tests do), the
tests of a round run one after another: side by side they would share the host's cores and
measure each other.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from scaling.collector.validate.group_tests import Outcome, Request, reference_rounds
from scaling.collector.validate.internode import (
    GroupBar,
    group_bar,
    group_outcome,
    reference_from_pairs,
)
from scaling.collector.validate.localize import localize
from scaling.config.validate import inter_node_minimum
from scaling.validate import groups
from scaling.validate.comm import COMM_MARGIN_S
from scaling.validate.links import network_ceiling
from scaling.validate.ranks import Rank, Ranks
from scaling.workloads.checks import group_collective


class GroupTests:
    """The localisation's GroupTest: runs a round of disjoint group tests for real."""

    def __init__(self, ranks: Ranks, cfg, timeout: float, add, env: dict, backend: str):
        self.ranks, self.cfg, self.timeout, self.add = ranks, cfg, timeout, add
        self.env, self.backend = env, backend
        self.bar = GroupBar(None, "not set yet")
        self.tests = 0
        self.serial = len({r.meta.get("node_ip") for r in ranks.ranks}) == 1
        """All nodes on one host: run a round's tests one at a time (module docstring)."""

    def members(self, node: str) -> list[Rank]:
        """The node's ranks in a group test: all that still answer (every rail)."""
        return self.ranks.live(self.ranks.of_node(node))

    def lost(self, node: str) -> str:
        members = self.ranks.of_node(node)
        return "; ".join(self.ranks.gone(r) for r in members if r.rank in self.ranks.lost)

    def __call__(self, requests: Sequence[Request]) -> list[Outcome]:
        if self.serial:
            return [self._round([r])[0] for r in requests]
        return self._round(requests)

    def _round(self, requests: Sequence[Request]) -> list[Outcome]:
        tests = []
        for req in requests:
            self.tests += 1
            tests.append((req, {n: self.members(n) for n in req.nodes}, f"test:{self.tests}"))
        runnable = [(req, by_node, gid) for req, by_node, gid in tests if all(by_node.values())]
        wanted = [[r for rs in by_node.values() for r in rs] for _, by_node, _ in runnable]
        formed = groups.form(self.ranks, wanted, self.env, self.backend, self.timeout,
                             "an inter-node group test") if runnable else []  # fmt: skip
        self.add([r for f in formed for r in f.startup])
        calls, specs, failed = [], [], {}
        for (req, _, gid), f in zip(runnable, formed, strict=True):
            if f.error:
                failed[gid] = f.error
                continue
            point = group_collective.spec("inter_node", self.cfg.validate.comm_bytes, gid,
                                         self.cfg.validate.group_op)  # fmt: skip
            point |= {"world_size": len(f.members), "phase": req.phase, "nodes": list(req.nodes)}
            calls += f.members
            specs += [point | {"who": r.who()} for r in f.members]
        answers = self.ranks.call(calls, group_collective.WORKLOAD.rank, specs,
                                  "an inter-node group test", self.timeout + COMM_MARGIN_S) if calls else []  # fmt: skip
        groups.destroy(self.ranks, formed)
        by_rank = {r.rank: (a, s) for r, a, s in zip(calls, answers, specs, strict=True)}
        return [self._outcome(req.nodes, by_node, gid, by_rank, failed.get(gid))
                for req, by_node, gid in tests]  # fmt: skip

    def _outcome(
        self, nodes, by_node: dict, gid: str, by_rank: dict, not_formed: str | None
    ) -> Outcome:
        members, records = [], []
        for r in (r for rs in by_node.values() for r in rs):
            (res, err), spec = by_rank.get(r.rank, ((None, not_formed), None))
            res = res if err is None else {"who": r.who(), "error": err, "group_id": gid}
            members.append(res)
            spec = spec or {"workload": group_collective.WORKLOAD.name, "check": "inter_node"}
            records += group_collective.WORKLOAD.records(spec, None, [res])
        self.add(records)
        lost = {n: self.lost(n) or "no rank of it answers" for n in nodes
                if not by_node[n] or any(r.rank in self.ranks.lost for r in by_node[n])}  # fmt: skip
        per_node = max((len(rs) for rs in by_node.values()), default=1)
        return group_outcome(members, lost, self.bar, tuple(nodes), per_node)


def choose_bar(tests: GroupTests, snapshots: dict, run=None) -> tuple[GroupBar, dict | None]:
    """The bar group tests must reach; measures the node-pair reference when it is needed,
    through `run` (the localisation's recorder, so the reference tests are counted)."""
    run = run or tests
    cfg, ranks = tests.cfg.validate, tests.ranks
    g = max((len(tests.members(n)) for n in ranks.nodes), default=1)
    if inter_node_minimum(cfg).value is not None:
        return group_bar(cfg, per_node=g), None
    members = [r for n in ranks.nodes for r in tests.members(n)]
    ceiling, label = network_ceiling(snapshots, members) if len(members) > 1 else (None, "")
    if ceiling:
        return group_bar(cfg, ceiling, label, per_node=g), None
    pairs: dict[tuple[str, str], float | None] = {}
    for pairs_of_round in reference_rounds(ranks.nodes):
        requests = [Request(p, "reference") for p in pairs_of_round]
        for req, got in zip(requests, run(requests), strict=True):
            pairs[req.nodes] = got.value if got.passed else None
    value, how = reference_from_pairs(pairs, cfg.group_op)
    reference = {"value": value, "how": how, "why_needed": label or "no network ceiling known",
                 "op": cfg.group_op, "pairs": [[a, b, v] for (a, b), v in pairs.items()]}  # fmt: skip
    return group_bar(cfg, reference=value, reference_how=how, per_node=g), reference


def localise(tests: GroupTests, snapshots: dict) -> list[dict]:
    """Choose the bar, run the adaptive search, and return its records."""
    nodes = tests.ranks.nodes
    chosen: dict = {}

    def bar(run) -> None:
        tests.bar, chosen["reference"] = choose_bar(tests, snapshots, run)

    cfg = tests.cfg.validate
    loc = localize(nodes, tests, exhaustive_max_nodes=cfg.exhaustive_max_nodes,
                   clock=time.perf_counter, rings=cfg.ring_orders, reference=bar,
                   op=cfg.group_op)  # fmt: skip
    reference = chosen.get("reference")
    return [
        {"type": "validate", "check": "inter_node_reference", "bar": tests.bar.to_dict(),
         "reference": reference},
        {"type": "validate", "check": "localization", "localization": loc.to_dict()},
    ]  # fmt: skip
