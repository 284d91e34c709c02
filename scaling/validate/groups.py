"""Process groups over exactly the ranks a check needs, formed side by side.

Each collective check of validate runs in a process group of its own members only: a node's
ranks for its all_reduce and GPU pairs, the tested nodes' ranks for an inter-node group
test. Groups of one round are disjoint and form concurrently (each with its own rendezvous,
bound by its first member, as Gang.group does for a world size). A rank that does not answer
costs its own group only; the others form, measure and are destroyed as usual.

(Subgroups of one world group would need every rank of the world for each new group, so one
stopped rank would hold up all of them; torch's members-only variant,
use_local_synchronization, hangs on gloo when two members have created different numbers
of groups before, which is every round of a localisation.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from scaling.cluster import rendezvous, startup_timing
from scaling.validate.ranks import Rank, Ranks


@dataclass
class Formed:
    members: list[Rank]
    error: str | None = None
    """Why the group did not form (it is then not used, and its checks are not measured)."""
    startup: list[dict] = field(default_factory=list)
    """Its members' start-up times as records (scaling/cluster/startup_timing.py)."""


def form(ranks: Ranks, wanted: list[list[Rank]], env: dict, backend: str, timeout: float,
         what: str) -> list[Formed]:  # fmt: skip
    """Form every wanted group (disjoint lists of ranks, 2+ each) side by side."""
    out = [Formed(list(g)) for g in wanted]
    start = time.perf_counter()
    leaders = [g[0] for g in wanted]
    opened = ranks.call_method(
        leaders, "open_rendezvous", [(len(g), timeout, g[0].meta["node_ip"]) for g in wanted],
        f"opening the rendezvous of {what}", timeout,
    )  # fmt: skip
    joining, args, owner = [], [], []
    for k, (g, (rdv, error)) in enumerate(zip(wanted, opened, strict=True)):
        if error:
            out[k].error = error
            continue
        for info, r in zip(rendezvous.assign_ranks([r.meta for r in g]), g, strict=True):
            e = rendezvous.torchrun_env(info["rank"], info["local_rank"], len(g),
                                        info["local_world_size"], info["node_rank"],
                                        rdv["addr"], rdv["port"])  # fmt: skip
            joining.append(r)
            args.append(({**env, **e}, backend, timeout))
            owner.append(k)
    joined = ranks.call_method(joining, "init_group", args, f"joining {what}", timeout + 20.0)
    setup_s = time.perf_counter() - start  # the round's groups form side by side: one wall time
    answers: dict[int, list] = {}
    for k, (answer, error) in zip(owner, joined, strict=True):
        if error and out[k].error is None:
            out[k].error = error
        answers.setdefault(k, []).append(answer)
    for k, f in enumerate(out):
        if f.error is None:
            f.startup = startup_timing.records(
                answers.get(k, []), len(f.members), name(f), backend, setup_s
            )
    return out


def name(f: Formed) -> str:
    """A validate group's name in the start-up table: its node, or the nodes it joins."""
    nodes = list(dict.fromkeys(r.node for r in f.members))
    return f"node {nodes[0]}" if len(nodes) == 1 else "nodes " + "+".join(nodes)


def destroy(ranks: Ranks, formed: list[Formed]) -> None:
    """Destroy the groups on every member still answering (a member stuck in a collective
    is lost already, and the run's end kills it)."""
    members = [r for f in formed for r in ranks.live(f.members)]
    if members:
        ranks.call_method(members, "destroy_group", [()] * len(members), "destroying a group", 60.0)
