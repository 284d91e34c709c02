"""Which network rails a node's ranks reach: the NIC ports nearest their GPUs.

NCCL sends each GPU's share of an inter-node collective through the NIC closest to it on
PCIe (the same switch where there is one), so a group with all of a node's GPUs uses every
rail, and one rank per node uses one. snapshot["rails"] is that map, read on the node
(hardware/infiniband.gpu_rails, stored by validate's host checks); without it the affinity
is unknown and the conservative reading is one port.

    from scaling.hardware.rails import rails_reached, unreached_ports
    rails_reached(snapshot, [0, 1, 2, 3])   # (ports at the node's best rate they reach, why)
    unreached_ports(snapshot, [0])          # active ports no rank sits nearest: not tested
"""

from __future__ import annotations

from typing import Any


def _fast_ports(snapshot: dict[str, Any]) -> set[str]:
    ib = [p for p in (snapshot.get("host") or {}).get("infiniband") or []
          if p.get("state") == "ACTIVE" and p.get("rate_gbps")]  # fmt: skip
    best = max((p["rate_gbps"] for p in ib), default=None)
    return {f"{p['device']}/{p['port']}" for p in ib if p["rate_gbps"] == best}


def _near(snapshot: dict[str, Any], gpus: list[int]) -> set[str] | None:
    rails = snapshot.get("rails")
    if not rails:
        return None
    return {nic for g in rails if g.get("gpu") in set(gpus) for nic in g.get("nics") or []}


def rails_reached(snapshot: dict[str, Any], gpus: list[int]) -> tuple[int, str]:
    """(how many of the node's fastest active ports the ranks on these GPUs reach, why):
    at least 1, at most one per rank."""
    fast = _fast_ports(snapshot)
    near = _near(snapshot, gpus)
    if near is None or not fast:
        return 1, "GPU-NIC affinity unknown: the ceiling counts one port"
    used = sorted(near & fast)
    count = max(1, min(len(used), len(gpus)))
    return count, f"{count} of {len(fast)} such ports nearest the ranks' GPUs ({', '.join(used)})"


def unreached_ports(snapshot: dict[str, Any], gpus: list[int]) -> list[str]:
    """Active fastest ports that no rank's GPU sits nearest: the group tests miss them."""
    near = _near(snapshot, gpus)
    return [] if near is None else sorted(_fast_ports(snapshot) - near)
