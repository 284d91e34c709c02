"""The localisation's result as verdicts: one per node, plus the links and groups it named.

Every node of a multi-node run gets an `inter_node` verdict (one JUnit testcase per node):

- FAIL NODE_COMM_FAIL / NO_MEASUREMENT: the search named it;
- PASS: it passed a group test (the evidence says which step and how large the group was);
- WARN NODE_COMM_UNRESOLVED: it never passed, and was in a group that could not be narrowed
  down (that group's own verdict FAILs).

A bad link (two nodes that fail only together) is one link-scope FAIL; an unlocalised or
intermittent group is one group-scope verdict listing its nodes.
"""

from __future__ import annotations

from scaling.collector.validate.codes import PASS, WARN
from scaling.collector.validate.localize import Localization
from scaling.collector.validate.verdicts import Verdict

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
