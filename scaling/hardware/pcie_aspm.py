"""PCIe ASPM (link power management) on a GPU's link, read from /sys.

ASPM lets an idle link drop into L0s/L1; leaving them costs microseconds on the next small
transfer, a latency source for collectives. Linux 5.5+ exposes the state of each link it
manages as /sys/bus/pci/devices/<BDF>/link/{l0s,l1,l1_1,l1_2}_aspm (1 = enabled). Without
those files the kernel's global policy (/sys/module/pcie_aspm/parameters/policy) can still
say "performance" (ASPM off everywhere); "default" leaves the firmware's choice, which /sys
does not show: unknown.
"""

from __future__ import annotations

from pathlib import Path

STATES = {"l0s_aspm": "L0s", "l1_aspm": "L1", "l1_1_aspm": "L1.1", "l1_2_aspm": "L1.2"}


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def sysfs_bus_id(bus_id: str) -> str:
    """NVML's 00000000:17:00.0 -> sysfs's 0000:17:00.0 (lower case)."""
    domain, _, rest = bus_id.strip().lower().partition(":")
    return f"{domain[-4:]:0>4}:{rest}"


def aspm_state(bus_id: str, sys_root: str | Path = "/sys") -> dict[str, str | None]:
    """{"state": "L0s L1" | "disabled" | None (unknown), "source": where it was read}."""
    root = Path(sys_root)
    link = root / "bus/pci/devices" / sysfs_bus_id(bus_id) / "link"
    if link.is_dir():
        values = {name: _read(link / name) for name in STATES}
        if any(v is not None for v in values.values()):
            on = [label for name, label in STATES.items() if values[name] == "1"]
            return {"state": " ".join(on) if on else "disabled", "source": str(link)}
    policy_file = root / "module/pcie_aspm/parameters/policy"
    policy = _read(policy_file) or ""
    chosen = next((w.strip("[]") for w in policy.split() if w.startswith("[")), None)
    if chosen == "performance":
        return {"state": "disabled", "source": f"{policy_file}: performance"}
    why = f"{policy_file}: {chosen}" if chosen else "no link state in /sys"
    return {"state": None, "source": why}
