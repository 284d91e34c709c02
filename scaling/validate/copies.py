"""Host copies and peer copies as the public bars measured them: one GPU at a time per uplink.

Azure NHC's 48 GB/s host-copy bar is nvbandwidth's host_to_device_memcpy_ce, which copies to
one GPU at a time; GPUs behind one PCIe switch share its uplink, so measured together each
sees a share. validate therefore runs the host copies in rounds: each round takes at most
one GPU behind each PCIe switch (GPUs whose common ancestor is PIX or PXB in the node's
topology), all nodes side by side; those figures are judged against the bar. Then every GPU
of every node copies at once: that figure is its own line (h2d_all, d2h_all), judged against
the fleet and its share of the link (the GPU's PCIe ceiling over the GPUs behind its switch),
never against the one-at-a-time bar. Where the topology is unknown, a node's GPUs go one at
a time.
"""

from __future__ import annotations

from scaling.validate.ranks import Rank, Ranks

SHARED_SWITCH = ("PIX", "PXB")
"""`nvidia-smi topo -m` paths that stay below a PCIe switch: the two GPUs share its uplink."""


def _position(snapshot: dict | None, r: Rank) -> int | None:
    uuid = str(r.meta.get("gpu_uuid") or "").removeprefix("GPU-")
    for pos, g in enumerate((snapshot or {}).get("gpus", [])):
        if uuid and str(g.get("uuid") or "").removeprefix("GPU-") == uuid:
            return pos
    return None


def uplink_groups(snapshot: dict | None, members: list[Rank]) -> tuple[list[list[Rank]], bool]:
    """(groups, known): a node's ranks grouped by the PCIe switch above their GPUs; where the
    topology is unknown, one group (one GPU at a time) and known False."""
    pos = {r.rank: _position(snapshot, r) for r in members}
    ancestors = (snapshot or {}).get("common_ancestor")
    if not ancestors or any(p is None for p in pos.values()):
        return ([list(members)] if members else []), False
    groups: list[list[Rank]] = []
    for r in members:
        home = next((g for g in groups
                     if str(ancestors[pos[g[0].rank]][pos[r.rank]]) in SHARED_SWITCH), None)  # fmt: skip
        if home is None:
            groups.append([r])
        else:
            home.append(r)
    return groups, True


def solo_rounds(ranks: Ranks, snapshots: dict) -> tuple[list[list[Rank]], dict[int, int | None]]:
    """(rounds, sharers): round k holds the k-th GPU behind each switch of every node; sharers:
    rank -> GPUs behind its switch (its share of the uplink when all copy at once; None where
    the topology is unknown)."""
    rounds: list[list[Rank]] = []
    sharers: dict[int, int | None] = {}
    for node in ranks.nodes:
        members = ranks.of_node(node)
        snap = snapshots.get(members[0].meta["node_id"]) if members else None
        groups, known = uplink_groups(snap, members)
        for group in groups:
            for k, r in enumerate(group):
                if len(rounds) <= k:
                    rounds.append([])
                rounds[k].append(r)
                sharers[r.rank] = len(group) if known else None
    return rounds, sharers
