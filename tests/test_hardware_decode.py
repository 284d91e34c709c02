"""NVML codes decoded into words, and the per-link ceilings (docs/formulas.md reference figures)."""

from __future__ import annotations

import pytest

from scaling.hardware.decode import (
    decode_clock_events,
    decode_nvlink_version,
    nvlink_gbps,
    nvlink_major,
    pcie_gbps,
    problem_clock_events,
)
from scaling.hardware.nvml import _cpu_list


@pytest.mark.parametrize(
    "mask, names",
    [
        (0x0, []),
        (0x1, ["gpu_idle"]),
        (0x4, ["sw_power_cap"]),
        (0x8, ["hw_slowdown"]),
        (0x20, ["sw_thermal_slowdown"]),
        (0x40, ["hw_thermal_slowdown"]),
        (0x80, ["hw_power_brake_slowdown"]),
        (0x4C, ["sw_power_cap", "hw_slowdown", "hw_thermal_slowdown"]),
        (0x1000, ["bit_0x1000"]),
    ],
)
def test_clock_event_bits(mask, names):
    assert decode_clock_events(mask) == names


def test_only_thermal_hw_slowdown_and_power_brake_are_problems():
    harmless = 0x1 | 0x2 | 0x4 | 0x10 | 0x100
    assert problem_clock_events(harmless) == []
    assert problem_clock_events(0x8) == ["hw_slowdown"]
    assert problem_clock_events(0x20) == ["sw_thermal_slowdown"]
    assert problem_clock_events(0x40) == ["hw_thermal_slowdown"]
    assert problem_clock_events(0x80) == ["hw_power_brake_slowdown"]
    assert problem_clock_events(0xFF) == [
        "hw_slowdown",
        "sw_thermal_slowdown",
        "hw_thermal_slowdown",
        "hw_power_brake_slowdown",
    ]


@pytest.mark.parametrize(
    "enum, version, major",
    [
        (1, "1.0", 1),
        (2, "2.0", 2),
        (3, "2.2", 2),
        (4, "3.0", 3),
        (5, "3.1", 3),
        (6, "4.0", 4),
        (7, "5.0", 5),
    ],
)
def test_nvlink_version_is_an_enum_not_the_generation(enum, version, major):
    assert decode_nvlink_version(enum) == version
    assert nvlink_major(version) == major


def test_unknown_nvlink_enum_stays_unknown():
    assert decode_nvlink_version(42) == "unknown (enum 42)"
    assert nvlink_major("unknown (enum 42)") is None
    assert nvlink_gbps("unknown (enum 42)", 18) is None


def test_nvlink_per_gpu_totals_match_the_reference_figures():
    assert nvlink_gbps("2.0", 6) == 150  # V100
    assert nvlink_gbps("3.1", 12) == 300  # A100 (reports enum 5)
    assert nvlink_gbps("4.0", 18) == 450  # H100 / H200
    assert nvlink_gbps("5.0", 18) == 900  # B200


def test_pcie_ceilings_match_the_reference_figures():
    assert pcie_gbps(4, 16) == pytest.approx(31.5, abs=0.05)
    assert pcie_gbps(4, 8) == pytest.approx(15.75, abs=0.05)
    assert pcie_gbps(5, 16) == pytest.approx(63.0, abs=0.05)
    assert pcie_gbps(3, 16) == pytest.approx(15.76)
    assert pcie_gbps("unknown", 16) is None
    assert pcie_gbps(4, "unknown") is None
    assert pcie_gbps(7, 16) is None  # no per-lane figure we trust: unknown, not a guess


def test_cpu_affinity_masks_become_ranges():
    low = (1 << 56) - 1  # CPUs 0-55
    assert _cpu_list([low, 0xFFFFFF << 48 & ((1 << 64) - 1), 0, 0]) == "0-55,112-127"
    assert _cpu_list([0b1011]) == "0-1,3"
    assert _cpu_list([0]) == ""
