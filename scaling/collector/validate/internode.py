"""The localisation's result as verdicts: one per node, plus the links and groups it named.

Every node of a multi-node run gets an `inter_node` verdict (one JUnit testcase per node):

- FAIL NODE_COMM_FAIL / NO_MEASUREMENT: the search named it;
- PASS: it passed a group test (the evidence says which step and how large the group was);
- WARN NODE_COMM_UNRESOLVED: it never passed, and was in a group that could not be narrowed
  down (that group's own verdict FAILs).

A bad link (two nodes that fail only together) is one link-scope FAIL; an unlocalised or
intermittent group is one group-scope verdict listing its nodes.

What a group test must reach (`group_bar`) and whether it did (`group_outcome`) are decided
here too, from the members' raw records, while the search runs.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from scaling.collector.validate.codes import PASS, WARN
from scaling.collector.validate.localize import Localization, Outcome
from scaling.collector.validate.records import busbw_rounds, value_of, wrong_elements
from scaling.collector.validate.verdicts import Verdict
from scaling.config.validate import ValidateConfig, inter_node_minimum

CHECK = "inter_node"


def localization_verdicts(loc: Localization, value_unit: str = "GB/s") -> list[Verdict]:
    if loc.mode == "single node":
        return []
    steps = {s.index: s for s in loc.steps}
    named = {n: f for f in loc.findings if f.kind in ("node", "no_measurement") for n in f.nodes}
    grouped = {n for f in loc.findings if f.kind == "group" for n in f.nodes}
    out = []
    for node in loc.nodes:
        if node in named:
            f = named[node]
            out.append(Verdict(check=CHECK, verdict=f.verdict, scope="node", node=node, code=f.code,
                               evidence=f.evidence, details={"steps": list(f.steps)}))  # fmt: skip
        elif node in loc.passed_in:
            s = steps[loc.passed_in[node]]
            value = f", {s.value:.4g} {value_unit}" if s.value is not None else ""
            out.append(Verdict(check=CHECK, verdict=PASS, scope="node", node=node,
                               evidence=f"passed step {s.index} ({s.phase}, {len(s.nodes)} nodes{value})",
                               details={"steps": [s.index]}))  # fmt: skip
        else:
            why = (
                "in a failing group that could not be narrowed down"
                if node in grouped
                else ("never passed a group test")
            )
            out.append(Verdict(check=CHECK, verdict=WARN, scope="node", node=node,
                               code="NODE_COMM_UNRESOLVED", evidence=f"not proven bad: {why}"))  # fmt: skip
    return out + [
        _finding_verdict(f) for f in loc.findings if f.kind in ("link", "group", "intermittent")
    ]


def _finding_verdict(f) -> Verdict:
    details = {"steps": list(f.steps), "nodes": list(f.nodes)}
    if f.kind == "link":
        a, b = f.nodes
        return Verdict(check=CHECK, verdict=f.verdict, scope="link", node=a, peer_node=b,
                       code=f.code, evidence=f.evidence, details=details)  # fmt: skip
    return Verdict(check=CHECK, verdict=f.verdict, scope="group", code=f.code,
                   evidence=f.evidence, details=details)  # fmt: skip


@dataclass(frozen=True)
class GroupBar:
    """The busbw (GB/s) a group test must reach, and where that figure comes from.

    all_to_all (node_gbps set): a group's busbw depends on its shape, so the bar is kept on
    each node's inter-node bandwidth B and turned into busbw per test (at()). Model: each of
    n ranks, g per node, sends S/n to every other rank; S(n-g)/n of it leaves the node, and
    the node's g ranks share B, so t = g S (n-g)/(n B) and busbw = S/t (n-1)/n =
    B (n-1)/(g (n-g)). One rank per node: B itself; two nodes of 8 GPUs: 15/64 B; many
    nodes: B/g. NVLink traffic inside a node is taken as hidden behind the network's."""

    value: float | None
    source: str
    op: str = "all_reduce"
    node_gbps: float | None = None

    def at(self, n: int, g: int) -> float | None:
        """The busbw bar of one group test: n ranks in all, at most g on one node."""
        if self.node_gbps is None or n <= g:
            return self.value
        return self.node_gbps * a2a_share(n, g)

    def to_dict(self) -> dict:
        d = {"value": self.value, "source": self.source, "op": self.op}
        return d | ({"node_gbps": self.node_gbps} if self.node_gbps is not None else {})


def a2a_share(n: int, g: int) -> float:
    """all_to_all busbw / the node's inter-node bandwidth, for n ranks, g per node (GroupBar)."""
    return (n - 1) / (g * (n - g))


def group_bar(
    cfg: ValidateConfig, ceiling: float | None = None, ceiling_label: str = "",
    reference: float | None = None, reference_how: str = "", per_node: int = 1,
) -> GroupBar:  # fmt: skip
    """A public minimum when one is set; else the healthy fraction of the network ceiling; else
    a fraction of the reference measured on node pairs (reference_from_pairs), which ran the
    same op (cfg.group_op) as the group tests. per_node: the ranks per node (all_to_all)."""
    op, g = cfg.group_op, max(per_node, 1)
    pair = a2a_share(2 * g, g)  # all_to_all busbw / node bandwidth over two nodes
    shape = (f"; {op} busbw bar of a test over n ranks, g per node: B (n-1)/(g(n-g)), "
             f"{g} rank(s) per node here (docs/validate-localization.md)")  # fmt: skip
    minimum = inter_node_minimum(cfg)
    if minimum.value is not None:
        if op != "all_to_all":
            return GroupBar(minimum.value, minimum.source, op)
        return GroupBar(minimum.value, f"{minimum.source}, read as the busbw of a two-node "
                        f"all_to_all: B = {minimum.value / pair:.4g} GB/s{shape}", op,
                        minimum.value / pair)  # fmt: skip
    if ceiling:
        f = cfg.allreduce_min_ceiling_fraction
        text = (f"[validate] allreduce_min_ceiling_fraction {f:g} x the network ceiling "
                f"{ceiling:.4g} GB/s ({ceiling_label})")  # fmt: skip
        if op != "all_to_all":
            return GroupBar(f * ceiling, text, op)
        return GroupBar(f * ceiling * pair, f"{text} = B {f * ceiling:.4g} GB/s per node; "
                        f"two nodes: {f * ceiling * pair:.4g}{shape}", op, f * ceiling)  # fmt: skip
    if reference:
        f = cfg.inter_node_min_fraction
        text = (f"[validate] inter_node_min_fraction {f:g} x the reference {reference:.4g} "
                f"GB/s ({reference_how})")  # fmt: skip
        if op != "all_to_all":
            return GroupBar(f * reference, text, op)
        return GroupBar(f * reference, f"{text}; B = {f * reference / pair:.4g} GB/s{shape}",
                        op, f * reference / pair)  # fmt: skip
    return GroupBar(None, "no minimum, network ceiling or reference: a group test passes when "
                    "it completes with exact results", op)  # fmt: skip


def reference_from_pairs(
    pairs: dict[tuple[str, str], float | None], op: str = "all_reduce"
) -> tuple[float | None, str]:
    """The median over nodes of each node's best node-pair busbw: a node with one bad partner
    still shows what the fabric does, and the median ignores the bad nodes while they are
    fewer than half. Two nodes: the one pair is its own reference, and the text says so."""
    best: dict[str, float] = {}
    for (a, b), v in pairs.items():
        if v is not None:
            for n in (a, b):
                best[n] = max(best.get(n, 0.0), v)
    if not best:
        return None, "no node pair could be measured"
    nodes = sorted({n for p in pairs for n in p})
    how = (f"median over {len(best)} nodes of each node's best busbw in {len(pairs)} node-pair "
           f"{op}s")  # fmt: skip
    if len(nodes) == 2:
        how += "; with two nodes the pair is its own reference: set inter_node_min_busbw_gbps to judge it"
    return float(statistics.median(best.values())), how


def group_outcome(
    members: list[dict], lost: dict[str, str], bar: GroupBar, nodes: tuple[str, ...],
    per_node: int = 1,
) -> Outcome:  # fmt: skip
    """One group test's Outcome from its members' records. lost: node -> why its rank gave no
    measurement (it died, stopped or hung): those nodes are `missing`, and FAIL at once.
    per_node: the most ranks any of its nodes had in it (GroupBar.at). A member None never
    answered (a test that could not run for a node already lost)."""
    members = [m for m in members if m is not None]
    duration = max((m.get("wall_s") or 0.0 for m in members), default=None)
    missing = tuple(n for n in nodes if n in lost)
    if missing:
        why = "; ".join(lost[n] for n in missing)
        return Outcome(False, None, duration, missing, f"no measurement: {why}")
    errors = [str(m["error"]) for m in members if m.get("error")]
    if errors:
        return Outcome(False, None, duration, (), f"failed: {errors[0]}")
    value = value_of(busbw_rounds(members))
    if value is None:
        return Outcome(False, None, duration, (), "no timings came back")
    wrong = wrong_elements(members)
    if wrong:
        return Outcome(False, value, duration, (), f"{wrong} wrong elements in the result")
    need = bar.at(int(members[0].get("ranks") or len(members)), per_node)
    if need is not None and value < need:
        return Outcome(False, value, duration, (), f"busbw {value:.4g} GB/s below {need:.4g}")
    return Outcome(True, value, duration, (), "")
