"""The InfiniBand/RoCE port check of `scaling doctor` and `scaling validate` (HEALTH_IB_PORTS).

One node's ports (snapshot["host"]["infiniband"], read by hardware/infiniband.py), judged
against its peers: the ports of the same adapter model on the node, and the same device and
port on the other nodes.

- FAIL: a port not ACTIVE / LinkUp while a peer of it is up (a dead rail);
- FAIL: a port slower than the fastest of its peers (a link trains at most at what both ends
  support, so the fastest peer shows what the hardware can do: 200 Gb/s "2X NDR" among
  400 Gb/s "4X NDR" ports is a lane down);
- FAIL: no port on this node where other nodes have some (driver not loaded, adapter gone);
- WARN: non-zero error counters (symbol_error, link_downed, ...), with the counts: they count
  since the port was last reset, so they say "look", not "broken now";
- WARN: a port down with no peer up anywhere (not cabled by design, or down fabric-wide);
- WARN: NCCL reported NET/IB but sysfs shows no port (the ports could not be checked).

No port anywhere (a CPU or Ethernet-only cluster): no check at all, and the caller says
NOT_FOUND; that is not a failure.

    from scaling.hardware.ib_health import check_ib_ports
    check_ib_ports(snapshot, peers={"n2": other_snapshot})   # a doctor check dict, or None
"""

from __future__ import annotations

from typing import Any

from scaling.hardware.diagnose import FAIL, PASS, WARN, check

NAME = "ib_ports"
NOT_FOUND = "no InfiniBand/RoCE ports found"
_ADVICE = {
    FAIL: "A down or slow port removes or halves a rail: NCCL routes around it and the node's "
    "inter-node bandwidth drops. Check the cable and transceiver (`ibstat`, `mlxlink -d DEV`), "
    "the switch port, and reseat or replace; drain the node until it trains at full rate.",
    WARN: "Read the counters again after a run (`perfquery -x` or the sysfs files): counts that "
    "grow point at a marginal cable or transceiver. A port down everywhere may be uncabled.",
}


def _ports(snap: dict[str, Any]) -> list[dict[str, Any]]:
    return list((snap.get("host") or {}).get("infiniband") or [])


def _name(p: dict[str, Any]) -> str:
    return f"{p['device']} port {p['port']}"


def _up(p: dict[str, Any]) -> bool:
    return p.get("state") == "ACTIVE" and p.get("phys_state", "LinkUp") in ("LinkUp", "unknown")


def _model(p: dict[str, Any]) -> tuple:
    return (p.get("link_layer"), p.get("hca_type"), p.get("board_id"))


def _peers(p: dict[str, Any], mine: list[dict], others: list[dict]) -> list[dict]:
    same_model = [q for q in mine if q is not p and _model(q) == _model(p)]
    same_port = [q for q in others if (q["device"], q["port"]) == (p["device"], p["port"])]
    return same_model + same_port


def _judge_port(p: dict, peers: list[dict]) -> tuple[list[str], list[str]]:
    fails, warns = [], []
    up_peers = [q for q in peers if _up(q)]
    if not _up(p):
        state = f"state {p.get('state')}, phys_state {p.get('phys_state', 'unknown')}"
        if up_peers:
            fails.append(f"{_name(p)} is down ({state}) while {len(up_peers)} like it are up")
        else:
            warns.append(f"{_name(p)} is down ({state}) and no port like it is up (uncabled?)")
        return fails, warns
    best = max((q["rate_gbps"] for q in up_peers if q.get("rate_gbps")), default=None)
    rate = p.get("rate_gbps")
    if rate is None:
        warns.append(f"{_name(p)}: rate unreadable ({p.get('rate')!r})")
    elif best and rate < best:
        fails.append(
            f"{_name(p)} at {rate:g} Gb/s ({p.get('rate')}) below its peers' {best:g} Gb/s"
        )
    errors = {k: v for k, v in (p.get("counters") or {}).items() if v}
    if errors:
        counts = ", ".join(f"{k}={v}" for k, v in errors.items())
        warns.append(f"{_name(p)} error counters {counts} (since the last counter reset)")
    return fails, warns


def check_ib_ports(
    snap: dict[str, Any], peers: dict[str, dict[str, Any]] | None = None,
    nccl_transport: str | None = None,
) -> dict[str, Any] | None:  # fmt: skip
    """This node's ports against their peers; None when no node has any port (NOT_FOUND)."""
    mine = _ports(snap)
    others = [(n, p) for n, s in (peers or {}).items() if s is not snap for p in _ports(s)]
    if not mine:
        if others:
            nodes = sorted({n for n, _ in others})
            return check(NAME, FAIL, f"{NOT_FOUND} here; {len(others)} on {', '.join(nodes)}",
                         _ADVICE[FAIL])  # fmt: skip
        if nccl_transport and "NET/IB" in nccl_transport:
            return check(NAME, WARN, f"NCCL reported {nccl_transport}, but {NOT_FOUND} in sysfs "
                         "(/sys/class/infiniband not visible here?): the ports were not checked",
                         _ADVICE[WARN])  # fmt: skip
        return None
    fails, warns = [], []
    for p in mine:
        f, w = _judge_port(p, _peers(p, mine, [q for _, q in others]))
        fails += f
        warns += w
    if fails or warns:
        status = FAIL if fails else WARN
        return check(NAME, status, "; ".join(fails + warns), _ADVICE[status])
    rates = sorted({f"{p['rate_gbps']:g} Gb/s {p.get('link_layer')}" for p in mine})
    return check(NAME, PASS, f"{len(mine)} ports ACTIVE/LinkUp ({', '.join(rates)}), "
                 "each at its peers' rate, no error counts")  # fmt: skip
