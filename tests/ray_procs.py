"""Finding the Ray processes a pytest started, on a machine other users share.

Every process started from a pytest inherits `TAG=<pytest pid>` (tests/conftest.py sets it);
Ray processes keep their environment (workers and agents inherit the raylet's), so the tag
finds them even after they retitle themselves. No side effects on import: tests and the
inner pytest of test_ray_fixtures.py import this as well as conftest.
"""

from __future__ import annotations

import os
import re
import signal
from contextlib import suppress
from pathlib import Path

TAG = "SCALING_TEST_SESSION"
# Set only while the owner starts a Ray: what it starts carries the hold's name.
HOLD = "SCALING_TEST_RAY_HOLD"
# Workers and agents retitle themselves ray::...; the autoscaler monitor, log monitor and
# dashboard are Python scripts inside the ray package.
_RAY_CMD = re.compile(rb"ray::|raylet|gcs_server|site-packages/ray/")


def ray_processes(tag: bytes = b"") -> dict[int, tuple[str, str]]:
    """Live Ray processes started from this pytest (or carrying the environment entry
    `tag`): pid -> (hold name or "", command line)."""
    tag = tag or f"{TAG}={os.getpid()}".encode()
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = Path(entry.path, "cmdline").read_bytes()
            if not _RAY_CMD.search(cmd):
                continue
            env = Path(entry.path, "environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if tag not in env:
            continue
        hold = next((e.split(b"=", 1)[1].decode() for e in env if e.startswith(HOLD.encode())), "")
        found[int(entry.name)] = (hold, cmd.replace(b"\0", b" ").decode(errors="replace")[:160])
    return found


def started_at(pid: int) -> float | None:
    """When a process started (seconds since the epoch), from /proc; None once it is gone."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, IndexError, ValueError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def held_by(pid: int) -> str:
    """The hold a process or its nearest held ancestor carries ("" for none): a Ray agent
    or worker counts as its raylet's even if it did not inherit the entry itself."""
    key = (HOLD + "=").encode()
    while pid > 1:
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return ""
        hold = next((e[len(key) :].decode() for e in env if e.startswith(key)), "")
        if hold:
            return hold
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the parent
    return ""


def _children(pids: set[int]) -> set[int]:
    out = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with suppress(OSError, IndexError, ValueError):
            ppid = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid in pids:
                out.add(int(entry.name))
    return out


def kill_family(pids) -> None:
    """SIGKILL the processes and every descendant. Each is stopped first (SIGSTOP), so none
    spawns another while the tree is walked: a raylet starts its agents a moment after it is
    up, and killing it between the scan and the spawn would orphan agents that no scan finds
    again (a retitled process's /proc environ is overwritten by its new title, tag included)."""
    family, frontier = set(), set(pids)
    while frontier:
        for pid in frontier:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGSTOP)
        family |= frontier
        frontier = _children(frontier) - family
    for pid in family:
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
