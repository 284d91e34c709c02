"""Connect the driver to Ray: an existing cluster when asked, else a fresh local one.

A plain `ray.init()` silently attaches to whatever cluster /tmp/ray last
recorded, and `ray.init(num_cpus=...)` fails outright when one is left over.
So without an explicit address we always start a fresh local instance.
"""

from __future__ import annotations

import logging
import os
import socket

import ray


class ClusterError(ValueError):
    """A user-facing cluster problem (unreachable address, too few resources): exit 2."""


def resolve_address(address: str | None) -> str | None:
    """--address wins over $RAY_ADDRESS; neither means a fresh local instance."""
    return address or os.environ.get("RAY_ADDRESS") or None


def _check_reachable(address: str, timeout_s: float) -> None:
    # ray.init against a dead HOST:PORT retries for a long time; a plain TCP
    # connect answers in seconds and lets us name the problem in one line.
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"--address {address!r} is not auto or HOST:PORT")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as e:
        raise ClusterError(f"cannot reach Ray cluster at {address}: {e.strerror or e}") from None


def connect_ray(address: str | None = None, timeout_s: float = 10.0) -> bool:
    """Connect to Ray. Returns True when this call started Ray (so the caller shuts it down).

    Reuses an in-process connection when one exists (library use, tests).
    """
    address = resolve_address(address)
    if address not in (None, "auto"):
        _check_reachable(address, timeout_s)
    if ray.is_initialized():
        return False
    common = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True)
    if address is None:
        # Ray starts workers at nice 15 so they yield to its own daemons. A rank at
        # nice 15 waits behind every other thread on a busy host, which inflates
        # small-message latency (measured: ~2x at 4 KiB on 2 cores). Ranks are the point here.
        ray.init(address="local", _system_config={"worker_niceness": 0}, **common)
        return True
    try:
        ray.init(address=address, **common)
    except (ConnectionError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ClusterError(f"cannot connect to Ray cluster at {address}: {first}") from None
    return False


def disconnect_ray(started: bool) -> None:
    """Shut Ray down if this process started it; leave a shared cluster alone otherwise."""
    if started and ray.is_initialized():
        ray.shutdown()
