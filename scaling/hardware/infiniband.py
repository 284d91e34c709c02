"""InfiniBand/RoCE ports and where they sit on the PCIe tree, read from sysfs.

    from scaling.hardware.infiniband import ports, gpu_rails
    ports("/sys")            # every port of every RDMA device, with its error counters
    gpu_rails(gpus, ports("/sys"), "/sys")   # each GPU's nearest NIC port (its rail)

The files are the kernel's stable ABI (Documentation/ABI/stable/sysfs-class-infiniband;
drivers/infiniband/core/sysfs.c writes them):

    /sys/class/infiniband/DEV/ports/N/state        "4: ACTIVE"   (DOWN, INIT, ARMED, ACTIVE)
    /sys/class/infiniband/DEV/ports/N/phys_state   "5: LinkUp"   (Sleep, Polling, Disabled...)
    /sys/class/infiniband/DEV/ports/N/rate         "400 Gb/sec (4X NDR)"
    /sys/class/infiniband/DEV/ports/N/link_layer   "InfiniBand" or "Ethernet" (RoCE)
    /sys/class/infiniband/DEV/ports/N/counters/*   decimal counts since the port was reset
    /sys/class/infiniband/DEV/{hca_type,board_id}  adapter model and board (peers by model)
    /sys/class/infiniband/DEV/device               link to the PCI device (PCIe path, NUMA)

`root` is the sysfs mount ("/sys"); tests point it at fixture trees
(tests/fixtures/sysfs_ib/). Anything unreadable is None, never a guess. Judging the ports is
hardware/ib_health.py's job; this module only reads.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

ERROR_COUNTERS = (
    "symbol_error", "link_downed", "link_error_recovery", "port_rcv_errors",
    "port_rcv_remote_physical_errors", "port_rcv_switch_relay_errors", "port_xmit_discards",
    "port_xmit_constraint_errors", "port_rcv_constraint_errors", "local_link_integrity_errors",
    "excessive_buffer_overrun_errors", "VL15_dropped",
)  # fmt: skip
"""The PortCounters the ABI doc lists as errors (the data and packet counters are not)."""

PCI_ADDRESS = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
PATH_ORDER = ("PIX", "PXB", "PHB", "NODE", "SYS")
"""`nvidia-smi topo -m` labels, nearest first (decode.PATH_MEANING says what each means)."""


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def parse_rate(text: str | None) -> float | None:
    """'400 Gb/sec (4X NDR)' -> 400.0 (Gb/s); None when unreadable."""
    m = re.match(r"\s*([\d.]+)\s*Gb/sec", text or "")
    return float(m.group(1)) if m else None


def _numbered(text: str | None) -> tuple[int | None, str | None]:
    """'4: ACTIVE' -> (4, 'ACTIVE'); the kernel prints "%d: %s"."""
    if not text:
        return None, None
    code, _, name = text.partition(":")
    return (int(code) if code.strip().isdigit() else None), (name.strip() or code.strip())


def _counters(port: Path) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for name in ERROR_COUNTERS:
        text = _read(port / "counters" / name)
        if text is None:
            continue  # not every driver has every counter
        out[name] = int(text) if text.isdigit() else None
    return out


def pci_chain(device_link: Path) -> list[str]:
    """The PCIe path to a device, root complex first: ['pci0000:15', '0000:15:01.0', ...,
    the device]. [] when the link is missing (a virtual device has none)."""
    try:
        real = Path(os.path.realpath(device_link, strict=True))
    except (OSError, RuntimeError):
        return []
    parts = real.parts
    start = next((i for i, p in enumerate(parts) if p.startswith("pci")), None)
    if start is None:
        return []
    return [parts[start]] + [p for p in parts[start + 1 :] if PCI_ADDRESS.match(p)]


def _numa(device_link: Path) -> int | None:
    text = _read(device_link / "numa_node")
    return int(text) if text and text.lstrip("-").isdigit() and int(text) >= 0 else None


def ports(root: str | Path = "/sys") -> list[dict[str, Any]]:
    """Every port of every RDMA device under root/class/infiniband ([] when there is none)."""
    base = Path(root) / "class" / "infiniband"
    out: list[dict[str, Any]] = []
    if not base.is_dir():
        return out
    for dev in sorted(base.iterdir(), key=_natural):
        port_dir = dev / "ports"
        if not port_dir.is_dir():
            continue
        chain = pci_chain(dev / "device")
        for port in sorted(port_dir.iterdir(), key=lambda p: (len(p.name), p.name)):
            state_code, state = _numbered(_read(port / "state"))
            phys_code, phys = _numbered(_read(port / "phys_state"))
            rate = _read(port / "rate")
            out.append({
                "device": dev.name, "port": port.name,
                "state": state or "unknown", "state_code": state_code,
                "phys_state": phys or "unknown", "phys_state_code": phys_code,
                "rate_gbps": parse_rate(rate), "rate": rate,
                "link_layer": _read(port / "link_layer") or "unknown",
                "hca_type": _read(dev / "hca_type"), "board_id": _read(dev / "board_id"),
                "counters": _counters(port),
                "pci_chain": chain, "numa_node": _numa(dev / "device"),
            })  # fmt: skip
    return out


def _natural(path: Path) -> list:
    """mlx5_2 before mlx5_10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def bus_id(nvml_bus_id: str) -> str:
    """NVML's '00000000:18:00.0' -> sysfs's '0000:18:00.0'."""
    domain, _, rest = nvml_bus_id.lower().partition(":")
    return f"{domain[-4:]}:{rest}"


def path_label(a: list[str], b: list[str], numa_a: int | None, numa_b: int | None) -> str:
    """The `nvidia-smi topo -m` label between two PCIe devices from their chains: PIX (one
    switch between them), PXB (several bridges), PHB (the same root complex), NODE (the same
    NUMA node), SYS (across sockets, or unknown)."""
    if a and b and a[0] == b[0]:
        common = 0
        for x, y in zip(a[1:], b[1:], strict=False):
            if x != y:
                break
            common += 1
        if common == 0:
            return "PHB"
        # below the shared bridge, each side has its switch downstream port and the device
        below = max(len(a), len(b)) - 1 - common
        return "PIX" if common >= 2 and below <= 2 else "PXB"
    if numa_a is not None and numa_a == numa_b:
        return "NODE"
    return "SYS"


def gpu_rails(gpus: list[dict], ib_ports: list[dict], root: str | Path = "/sys") -> list[dict]:
    """Each GPU's nearest RDMA port(s) (its rail, as NCCL picks it: the NIC closest on PCIe),
    with the path label. gpus: the snapshot's GPU dicts (index, uuid, bus_id, numa_node)."""
    up = [p for p in ib_ports if p.get("state") == "ACTIVE"] or ib_ports
    out = []
    for g in gpus:
        bid = str(g.get("bus_id") or "")
        chain = pci_chain(Path(root) / "bus" / "pci" / "devices" / bus_id(bid)) if bid else []
        numa = g.get("numa_node") if isinstance(g.get("numa_node"), int) else None
        if not chain and numa is None:
            out.append({"gpu": g.get("index"), "uuid": g.get("uuid"), "bus_id": bid,
                        "pci_chain": [], "path": None, "nics": []})  # fmt: skip
            continue
        labels = {
            f"{p['device']}/{p['port']}": path_label(chain, p["pci_chain"], numa, p["numa_node"])
            for p in up
        }
        best = min(labels.values(), key=PATH_ORDER.index, default=None)
        out.append({"gpu": g.get("index"), "uuid": g.get("uuid"), "bus_id": bid,
                    "pci_chain": chain, "path": best,
                    "nics": sorted(k for k, v in labels.items() if v == best)})  # fmt: skip
    return out
