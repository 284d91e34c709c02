"""Across nodes: the real group test behind the adaptive localisation, and what it must reach.

A group test over some nodes is an all_reduce over one rank per node (the node's first rank
still answering), in a process group of just those ranks (groups.py), so the disjoint tests
of a round run side by side (collector/validate/localize.py decides which groups to test),
and each test pays for forming its group as a job would. It passes
when every member answers, the result is exact and the busbw reaches the bar:

1. the public minimum ([validate] inter_node_min_busbw_gbps or a fabric preset), else
2. the healthy fraction of the network ceiling (the nodes' NICs), else
3. a fraction of a reference measured first: node-pair all_reduces, in rounds of all pairs
   until every node has had two partners (one, with two nodes), reference = median over
   nodes of each node's best pair (collector/validate/internode.py).

A node none of whose ranks answers any more is missing from every test (it FAILs with
NO_MEASUREMENT and leaves play); a member lost inside a test makes its node missing.

Where every node is on one host (Ray nodes started on one machine, as the tests do), the
tests of a round run one after another: side by side they would share the host's cores and
measure each other.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from scaling.collector.validate.group_tests import Outcome, Request, round_robin
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
from scaling.workloads.checks import group_allreduce

PARTNERS = 2
"""Reference pairs per node: with two, a node beside one bad partner still shows a good pair."""


def reference_rounds(nodes: list[str]) -> list[list[tuple[str, str]]]:
    """The first rounds of all pairs, until every node has had PARTNERS partners."""
    need = min(PARTNERS, len(nodes) - 1)
    seen = {n: 0 for n in nodes}
    out = []
    for pairs in round_robin(nodes):
        if min(seen.values()) >= need:
            break
        out.append(pairs)
        for a, b in pairs:
            seen[a] += 1
            seen[b] += 1
    return out


class GroupTests:
    """The localisation's GroupTest: runs a round of disjoint group tests for real."""

    def __init__(self, ranks: Ranks, cfg, timeout: float, add, env: dict, backend: str):
        self.ranks, self.cfg, self.timeout, self.add = ranks, cfg, timeout, add
        self.env, self.backend = env, backend
        self.bar = GroupBar(None, "not set yet")
        self.tests = 0
        self.serial = len({r.meta.get("node_ip") for r in ranks.ranks}) == 1
        """All nodes on one host: run a round's tests one at a time (module docstring)."""

    def tester(self, node: str) -> Rank | None:
        live = self.ranks.live(self.ranks.of_node(node))
        return live[0] if live else None

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
            tests.append((req, [self.tester(n) for n in req.nodes], f"test:{self.tests}"))
        runnable = [(req, testers, gid) for req, testers, gid in tests if None not in testers]
        formed = groups.form(self.ranks, [t for _, t, _ in runnable], self.env, self.backend,
                             self.timeout, "an inter-node group test") if runnable else []  # fmt: skip
        self.add([r for f in formed for r in f.startup])
        calls, specs, failed = [], [], {}
        for (req, testers, gid), f in zip(runnable, formed, strict=True):
            if f.error:
                failed[gid] = f.error
                continue
            point = group_allreduce.spec("inter_node", self.cfg.validate.comm_bytes, gid)
            point |= {"world_size": len(testers), "phase": req.phase, "nodes": list(req.nodes)}
            calls += testers
            specs += [point | {"who": r.who()} for r in testers]
        answers = self.ranks.call(calls, group_allreduce.WORKLOAD.rank, specs,
                                  "an inter-node group test", self.timeout + COMM_MARGIN_S) if calls else []  # fmt: skip
        groups.destroy(self.ranks, formed)
        by_rank = {r.rank: (a, s) for r, a, s in zip(calls, answers, specs, strict=True)}
        return [self._outcome(req.nodes, testers, gid, by_rank, failed.get(gid))
                for req, testers, gid in tests]  # fmt: skip

    def _outcome(self, nodes, testers, gid: str, by_rank: dict, not_formed: str | None) -> Outcome:
        members, records = [], []
        for r in testers:
            if r is None:
                continue
            (res, err), spec = by_rank.get(r.rank, ((None, not_formed), None))
            res = res if err is None else {"who": r.who(), "error": err, "group_id": gid}
            members.append(res)
            spec = spec or {"workload": group_allreduce.WORKLOAD.name, "check": "inter_node"}
            records += group_allreduce.WORKLOAD.records(spec, None, [res])
        self.add(records)
        lost = {n: self.lost(n) for n, r in zip(nodes, testers, strict=True)
                if r is None or r.rank in self.ranks.lost}  # fmt: skip
        return group_outcome(members, lost, self.bar, tuple(nodes))


def choose_bar(tests: GroupTests, snapshots: dict) -> tuple[GroupBar, dict | None]:
    """The bar group tests must reach; measures the node-pair reference when it is needed."""
    cfg, ranks = tests.cfg.validate, tests.ranks
    if inter_node_minimum(cfg).value is not None:
        return group_bar(cfg), None
    testers = [r for r in (tests.tester(n) for n in ranks.nodes) if r is not None]
    ceiling, label = network_ceiling(snapshots, testers) if len(testers) > 1 else (None, "")
    if ceiling:
        return group_bar(cfg, ceiling, label), None
    pairs: dict[tuple[str, str], float | None] = {}
    for pairs_of_round in reference_rounds(ranks.nodes):
        requests = [Request(p, "reference") for p in pairs_of_round]
        for req, got in zip(requests, tests(requests), strict=True):
            pairs[req.nodes] = got.value if got.passed else None
    value, how = reference_from_pairs(pairs)
    reference = {"value": value, "how": how, "why_needed": label or "no network ceiling known",
                 "pairs": [[a, b, v] for (a, b), v in pairs.items()]}  # fmt: skip
    return group_bar(cfg, reference=value, reference_how=how), reference


def localise(tests: GroupTests, snapshots: dict) -> list[dict]:
    """Choose the bar, run the adaptive search, and return its records."""
    nodes = tests.ranks.nodes
    tests.bar, reference = choose_bar(tests, snapshots)
    loc = localize(nodes, tests, exhaustive_max_nodes=tests.cfg.validate.exhaustive_max_nodes,
                   clock=time.perf_counter)  # fmt: skip
    return [
        {"type": "validate", "check": "inter_node_reference", "bar": tests.bar.to_dict(),
         "reference": reference},
        {"type": "validate", "check": "localization", "localization": loc.to_dict()},
    ]  # fmt: skip
