"""Host facts: CPU, NUMA, memory and swap, NICs, OS, and the torch/NCCL/CUDA stack.

Read from /proc and /sys (Linux); anything unreadable is "unknown", never a
guess. torch is imported lazily and guarded: the probe must run where torch
is missing or broken, and on nodes where importing it is slow only once.
"""

from __future__ import annotations

import os
import platform
import re
import socket
from pathlib import Path
from typing import Any

from scaling.hardware.infiniband import ports as infiniband_ports

UNKNOWN = "unknown"


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def cpu_facts(cpuinfo: str | None = None) -> dict[str, Any]:
    """CPU model, logical and physical cores, and the cores this process may use."""
    text = cpuinfo if cpuinfo is not None else (_read("/proc/cpuinfo") or "")
    model = None
    cores: set[tuple[str, str]] = set()
    phys = core = None
    for line in text.splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key in ("model name", "Model", "cpu model") and model is None:
            model = value
        elif key == "physical id":
            phys = value
        elif key == "core id":
            core = value
        elif not key and phys is not None and core is not None:
            cores.add((phys, core))
            phys = core = None
    if phys is not None and core is not None:
        cores.add((phys, core))
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = UNKNOWN
    return {
        "cpu_model": model or platform.processor() or UNKNOWN,
        "cpu_logical": os.cpu_count() or UNKNOWN,
        # ARM and many VMs omit physical/core ids: unknown rather than a guess.
        "cpu_physical": len(cores) if cores else UNKNOWN,
        "cpu_usable": usable,
    }


def numa_nodes(node_dir: str | Path = "/sys/devices/system/node") -> int | str:
    try:
        nodes = [p for p in Path(node_dir).iterdir() if re.fullmatch(r"node\d+", p.name)]
    except OSError:
        return UNKNOWN
    return len(nodes) or UNKNOWN


def memory_facts(meminfo: str | None = None) -> dict[str, Any]:
    """Memory and swap in bytes from /proc/meminfo (which counts in KiB)."""
    text = meminfo if meminfo is not None else (_read("/proc/meminfo") or "")
    kib = {}
    for line in text.splitlines():
        m = re.match(r"(\w+):\s+(\d+)\s*kB", line)
        if m:
            kib[m.group(1)] = int(m.group(2)) * 1024

    def get(key: str) -> int | str:
        return kib.get(key, UNKNOWN)

    swap_used: int | str = UNKNOWN
    if "SwapTotal" in kib and "SwapFree" in kib:
        swap_used = kib["SwapTotal"] - kib["SwapFree"]
    return {
        "mem_total_bytes": get("MemTotal"),
        "mem_available_bytes": get("MemAvailable"),
        "swap_total_bytes": get("SwapTotal"),
        "swap_used_bytes": swap_used,
    }


def ethernet_nics(net_dir: str | Path = "/sys/class/net") -> list[dict[str, Any]]:
    """Every interface but loopback, with its speed in Mb/s (None when the kernel has none).

    Virtual interfaces (bridges, veth, virtio) report -1 or refuse the read;
    "physical" says whether a device backs the interface.
    """
    nics = []
    try:
        entries = sorted(Path(net_dir).iterdir())
    except OSError:
        return nics
    for entry in entries:
        if entry.name == "lo":
            continue
        speed = _read(entry / "speed")
        mbps = int(speed) if speed and speed.lstrip("-").isdigit() and int(speed) > 0 else None
        nics.append(
            {
                "name": entry.name,
                "speed_mbps": mbps,
                "state": _read(entry / "operstate") or UNKNOWN,
                "physical": (entry / "device").exists(),
            }
        )
    return nics


def os_facts() -> dict[str, Any]:
    pretty = UNKNOWN
    for line in (_read("/etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            pretty = line.split("=", 1)[1].strip().strip('"')
    return {
        "hostname": socket.gethostname(),
        "os": pretty,
        "kernel": platform.release() or UNKNOWN,
        "python": platform.python_version(),
    }


def stack_versions() -> dict[str, Any]:
    """torch, the CUDA runtime torch was built with, and the NCCL it carries."""
    try:
        import torch
    except Exception as e:  # a broken install raises more than ImportError
        return {"torch": f"{UNKNOWN}: {type(e).__name__}", "cuda_runtime": None, "nccl": None}
    nccl: str | None = None
    try:
        version = torch.cuda.nccl.version()
        nccl = ".".join(str(x) for x in version) if isinstance(version, tuple) else str(version)
    except Exception:
        nccl = None  # CPU wheels ship without NCCL
    return {"torch": torch.__version__, "cuda_runtime": torch.version.cuda, "nccl": nccl}


def host_facts() -> dict[str, Any]:
    """The host part of a snapshot."""
    return {
        **os_facts(),
        **cpu_facts(),
        "numa_nodes": numa_nodes(),
        **memory_facts(),
        "nics": ethernet_nics(),
        "infiniband": infiniband_ports(),  # hardware/infiniband.py
        **stack_versions(),
    }
