"""Rendezvous for one process group: rank 0's store, torchrun's env vars, init.

Rank 0 binds the master TCPStore itself, so no port is probed, closed and hoped
for: a port taken between probe and bind is simply retried with the next
candidate, and by default the OS picks a free one (port 0) at bind time.

The store has no authentication, and TCPStore alone listens on every interface.
So rank 0 binds the listening socket to its node's IP (127.0.0.1 for a local run)
and hands it to the store (`master_listen_fd`): the store is reachable where the
other ranks are, and nowhere else.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable, Iterator
from datetime import timedelta

import torch.distributed as dist

BIND_ATTEMPTS = 8


def _os_ports() -> Iterator[int]:
    while True:
        yield 0  # the OS picks a free port at bind time


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port only (IPv4 or IPv6, as the address says)."""
    family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.bind(addr)
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


def bind_master_store(
    host: str, world_size: int, timeout_s: float, ports: Iterable[int] | None = None
) -> dict:
    """Create the master TCPStore listening on `host` only; returns {"store", "port"}.

    `ports` are candidates tried in order (tests pass a taken one first); a port
    already in use moves on to the next candidate rather than failing the run.
    """
    candidates = iter(ports) if ports is not None else _os_ports()
    last: Exception | None = None
    for _ in range(BIND_ATTEMPTS):
        port = next(candidates, 0)
        try:
            sock = _listen(host, port)
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
            last = e
            continue
        port = sock.getsockname()[1]
        store = dist.TCPStore(
            host,
            port,
            world_size,
            is_master=True,
            timeout=timedelta(seconds=timeout_s),
            wait_for_workers=False,
            master_listen_fd=sock.detach(),  # the store owns (and closes) the socket now
        )
        return {"store": store, "port": store.port}
    raise RuntimeError(
        f"could not bind a rendezvous port on {host} after {BIND_ATTEMPTS} tries: {last}"
    )


def connect_store(host: str, port: int, world_size: int, timeout_s: float):
    """A non-master rank's client connection to rank 0's store."""
    return dist.TCPStore(
        host, port, world_size, is_master=False, timeout=timedelta(seconds=timeout_s)
    )


def torchrun_env(
    rank: int,
    local_rank: int,
    world_size: int,
    local_world_size: int,
    node_rank: int,
    master_addr: str,
    master_port: int,
) -> dict[str, str]:
    """The variables torchrun sets, so user code and NCCL see a familiar world."""
    return {
        "RANK": str(rank),
        "LOCAL_RANK": str(local_rank),
        "WORLD_SIZE": str(world_size),
        "LOCAL_WORLD_SIZE": str(local_world_size),
        "NODE_RANK": str(node_rank),
        "MASTER_ADDR": master_addr,
        "MASTER_PORT": str(master_port),
        "GROUP_RANK": str(node_rank),
    }


def assign_ranks(placements: list[dict]) -> list[dict]:
    """Rank layout for a group over `placements` (already in rank order).

    Each placement has "node_id". Returns, per rank, the torchrun numbering:
    local_rank, local_world_size and node_rank (nodes numbered in order of
    first appearance, which is node-contiguous when placements are sorted).
    """
    node_order: dict[str, int] = {}
    per_node: dict[str, int] = {}
    for p in placements:
        node_order.setdefault(p["node_id"], len(node_order))
        per_node[p["node_id"]] = per_node.get(p["node_id"], 0) + 1
    seen: dict[str, int] = {}
    out = []
    for rank, p in enumerate(placements):
        local = seen.get(p["node_id"], 0)
        seen[p["node_id"]] = local + 1
        out.append(
            {
                "rank": rank,
                "local_rank": local,
                "local_world_size": per_node[p["node_id"]],
                "node_rank": node_order[p["node_id"]],
                "nodes": len(node_order),
            }
        )
    return out


def node_ip() -> str:
    """This node's IP as Ray knows it (falls back to the hostname's address)."""
    try:
        import ray

        return ray.util.get_node_ip_address()
    except Exception:
        return socket.gethostbyname(socket.gethostname())
