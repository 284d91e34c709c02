"""NVML codes decoded into words, without importing pynvml.

Fixtures and snapshots from other nodes hold the raw codes (clock-event
bitmasks, NVLink version enums), so the decoding must work where no NVML
library exists. The numbers below are the values of NVML's public headers
(nvml.h), which nvidia-ml-py mirrors.
"""

from __future__ import annotations

# nvmlClocksEventReason* bits (same values as the deprecated ClocksThrottleReason*).
CLOCK_EVENT_BITS: dict[int, str] = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}

# Idle, a power cap under load and app-clock settings are normal operation;
# these four mean the GPU runs below the clocks it should hold.
PROBLEM_CLOCK_EVENTS = frozenset(
    {"hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown"}
)

CLOCK_EVENT_MEANING: dict[str, str] = {
    "gpu_idle": "idle (nothing running)",
    "applications_clocks_setting": "application clocks set by the administrator",
    "sw_power_cap": "software power cap (normal at full load)",
    "hw_slowdown": "hardware slowdown (thermal, power brake or a power-supply fault)",
    "sync_boost": "sync boost with other GPUs",
    "sw_thermal_slowdown": "software thermal slowdown (GPU or memory too hot)",
    "hw_thermal_slowdown": "hardware thermal slowdown (GPU too hot)",
    "hw_power_brake_slowdown": "hardware power brake (external signal, e.g. the PSU)",
    "display_clock_setting": "display clock setting",
}


def decode_clock_events(mask: int) -> list[str]:
    """Names of the set bits, lowest first; unknown bits as 'bit_0x...'."""
    names = []
    bit = 1
    while bit <= mask:
        if mask & bit:
            names.append(CLOCK_EVENT_BITS.get(bit, f"bit_{bit:#x}"))
        bit <<= 1
    return names


def problem_clock_events(mask: int) -> list[str]:
    """The decoded events that mean lost performance (thermal, HW slowdown, power brake)."""
    return [name for name in decode_clock_events(mask) if name in PROBLEM_CLOCK_EVENTS]


# nvmlNvlinkVersion_t: an enum, not the generation (A100 reports 5, which is 3.1).
NVLINK_VERSION_ENUM: dict[int, str] = {
    1: "1.0",
    2: "2.0",
    3: "2.2",
    4: "3.0",
    5: "3.1",
    6: "4.0",
    7: "5.0",
    8: "6.0",
}

# One direction, per link, GB/s. NVLink 2-4 moved to fewer, faster lanes per
# link, so the link stayed at 25 GB/s; NVLink 5 doubled it. NVLink 6 is left
# out until we have a figure we trust: its ceiling prints as unknown.
NVLINK_LINK_GBPS: dict[int, float] = {1: 20.0, 2: 25.0, 3: 25.0, 4: 25.0, 5: 50.0}


def decode_nvlink_version(enum_value: int) -> str:
    """'4.0' for the enum 6; 'unknown (enum N)' for values NVML may add later."""
    return NVLINK_VERSION_ENUM.get(enum_value, f"unknown (enum {enum_value})")


def nvlink_major(version: str) -> int | None:
    """'4.0' -> 4; None for anything that is not a decoded version."""
    head = version.split(".")[0]
    return int(head) if head.isdigit() else None


# nvmlGpuTopologyLevel_t -> `nvidia-smi topo -m` labels (PCIe path only).
TOPOLOGY_LEVEL_LABEL: dict[int, str] = {
    0: "X",  # INTERNAL: the same board (e.g. a dual-GPU card); topo -m marks it like self
    10: "PIX",  # SINGLE: one PCIe switch
    20: "PXB",  # MULTIPLE: several PCIe switches, no host bridge
    30: "PHB",  # HOSTBRIDGE: through the CPU's PCIe host bridge
    40: "NODE",  # NODE: between host bridges within one NUMA node
    50: "SYS",  # SYSTEM: across the inter-socket link (QPI/UPI/xGMI)
}

# PCIe path labels from nearest to farthest: the farther, the slower P2P tends to be.
PCIE_PATH_ORDER = ("PIX", "PXB", "PHB", "NODE", "SYS")

PATH_MEANING: dict[str, str] = {
    "X": "self",
    "PIX": "at most one PCIe bridge",
    "PXB": "several PCIe bridges, no host bridge",
    "PHB": "through a PCIe host bridge (the CPU)",
    "NODE": "between PCIe host bridges within one NUMA node",
    "SYS": "across the inter-socket link (QPI/UPI) between NUMA nodes",
    "NET": "between nodes, over the network",
}

# nvmlGpuP2PStatus_t
P2P_STATUS: dict[int, str] = {
    0: "OK",
    1: "CHIPSET_NOT_SUPPORTED",
    2: "GPU_NOT_SUPPORTED",
    3: "TOPOLOGY_NOT_SUPPORTED",
    4: "DISABLED_BY_REGKEY",
    5: "NOT_SUPPORTED",
    6: "UNKNOWN",
}

# nvmlNvLinkDeviceType_t
NVLINK_REMOTE_TYPE: dict[int, str] = {0: "gpu", 1: "ibmnpu", 2: "switch", 0xFF: "unknown"}

# One direction, per lane, GB/s, after line encoding (8b/10b up to Gen2, 128b/130b after).
PCIE_LANE_GBPS: dict[int, float] = {1: 0.25, 2: 0.5, 3: 0.985, 4: 1.97, 5: 3.94}


def pcie_gbps(gen: object, width: object) -> float | None:
    """Theoretical one-direction PCIe bandwidth; None when gen or width is unknown."""
    if not isinstance(gen, int) or not isinstance(width, int) or gen not in PCIE_LANE_GBPS:
        return None
    return round(PCIE_LANE_GBPS[gen] * width, 2)


def nvlink_gbps(version: str, links: int) -> float | None:
    """Theoretical one-direction NVLink bandwidth of `links` links; None when unknown."""
    major = nvlink_major(version)
    if major not in NVLINK_LINK_GBPS:
        return None
    return NVLINK_LINK_GBPS[major] * links
