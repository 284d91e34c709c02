"""Sequential read bandwidth of the storage that holds checkpoints and weights.

    from scaling.hardware.storage import read_bandwidth
    read_bandwidth("/checkpoints", size_bytes=1 << 30)   # {"gbps": 3.2, "method": "O_DIRECT", ...}

A read that the page cache serves measures memory, not the disk, so the bytes must come from
the device: with O_DIRECT (the kernel's cache is bypassed) where the filesystem allows it;
otherwise the file's cached pages are dropped first (posix_fadvise DONTNEED after fsync) and
the method says so. A directory gets a test file of `size_bytes` (random bytes, so
compression or deduplication cannot shortcut it), written, read back and removed; a file is
read as it is, up to `size_bytes`. GB/s = 1e9 bytes/s. On tmpfs the figure is memory speed,
and `filesystem` says tmpfs.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import time
from pathlib import Path
from typing import Any

BLOCK = 8 << 20
"""Bytes per read: large enough that per-call cost vanishes, a multiple of every sector size."""


def filesystem(path: str | Path) -> str | None:
    """The filesystem type of the mount holding `path` (/proc/mounts), or None."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    target, best = str(Path(path).resolve()), (None, -1)
    for line in mounts:
        parts = line.split()
        if len(parts) < 3 or len(parts[1]) <= best[1]:
            continue
        if target == parts[1] or target.startswith(parts[1].rstrip("/") + "/"):
            best = (parts[2], len(parts[1]))  # the longest mount point holding the path
    return best[0]


def _open(path: Path, flags: int) -> tuple[int, bool]:
    """(fd, direct): O_DIRECT when the filesystem takes it (tmpfs and some FUSE mounts refuse)."""
    direct = getattr(os, "O_DIRECT", 0)
    if direct:
        with contextlib.suppress(OSError):
            return os.open(path, flags | direct, 0o600), True
    return os.open(path, flags, 0o600), False


def _write_test_file(path: Path, size: int, buf: mmap.mmap) -> None:
    fd, _ = _open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        for _ in range(size // BLOCK):
            os.writev(fd, [buf])
        os.fsync(fd)
    finally:
        os.close(fd)


def _timed_read(path: Path, limit: int, buf: mmap.mmap) -> dict[str, Any]:
    fd, direct = _open(path, os.O_RDONLY)
    try:
        if not direct:  # drop the cached pages, so the reads below reach the device
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        total, start = 0, time.perf_counter()
        while total < limit:
            n = os.readv(fd, [buf])
            if n <= 0:
                break
            total += n
        seconds = time.perf_counter() - start
    finally:
        os.close(fd)
    method = "O_DIRECT" if direct else "page cache dropped (posix_fadvise DONTNEED)"
    return {"bytes": total, "seconds": seconds, "method": method}


def read_bandwidth(path: str | Path, size_bytes: int = 1 << 30) -> dict[str, Any]:
    """{"gbps", "bytes", "seconds", "method", "filesystem", "path"} or {"error": why}."""
    p = Path(path)
    size = max(BLOCK, size_bytes - size_bytes % BLOCK)
    buf = mmap.mmap(-1, BLOCK)  # page-aligned, as O_DIRECT requires
    buf.write(os.urandom(BLOCK))
    made = None
    try:
        if p.is_dir():
            made = p / f".scaling-storage-{os.getpid()}"
            _write_test_file(made, size, buf)
            target = made
        elif p.is_file():
            target = p
        else:
            return {"error": f"{p}: no such file or directory on this node", "path": str(p)}
        got = _timed_read(target, size, buf)
    except OSError as e:
        return {"error": f"{p}: {e.strerror or e}", "path": str(p)}
    finally:
        buf.close()
        if made is not None:
            made.unlink(missing_ok=True)
    if not got["bytes"] or got["seconds"] <= 0:
        return {"error": f"{p}: nothing could be read", "path": str(p)}
    return {**got, "gbps": got["bytes"] / got["seconds"] / 1e9, "filesystem": filesystem(p),
            "path": str(p)}  # fmt: skip
