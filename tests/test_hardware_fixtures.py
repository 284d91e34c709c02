"""Topology labels, ceilings and health checks on the hand-built NVML fixtures.

Each fixture goes through load_snapshot, the path a saved real snapshot takes.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest

from scaling.hardware.across_nodes import compare_nodes
from scaling.hardware.diagnose import diagnose, worst
from scaling.hardware.nvml import resolve_nvlink_remote
from scaling.hardware.probe import load_snapshot
from scaling.hardware.topology import gpu_table, group_link, matrix, node_group, pcie_link

FIXTURES = Path(__file__).parent / "fixtures" / "nvml"


def fixture(name: str) -> dict:
    return load_snapshot(FIXTURES / f"{name}.json")


def statuses(snapshot: dict) -> dict[str, str]:
    return {c["check"]: c["status"] for c in diagnose(snapshot)}


def ranks(node: str, gpus) -> list[dict]:
    return [{"node_id": node, "gpu_index": g} for g in gpus]


def test_fixture_files_match_their_builder():
    spec = importlib.util.spec_from_file_location("build", FIXTURES / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    on_disk = sorted(p.stem for p in FIXTURES.glob("*.json"))
    assert on_disk == sorted(build.FIXTURES)
    for name in build.FIXTURES:
        assert (FIXTURES / f"{name}.json").read_text() == build.render(name), name


# --- 8x H100 SXM on NVSwitch -------------------------------------------------


def test_h100_nvswitch_is_nv18_everywhere_with_450_gbps():
    snap = fixture("h100_sxm_8gpu_nvswitch")
    m = matrix(snap)
    assert [m[i][i] for i in range(8)] == ["X"] * 8
    assert {m[i][j] for i in range(8) for j in range(8) if i != j} == {"NV18"}
    for n in (2, 4, 8):
        link = group_link({"a": snap}, ranks("a", range(n)))
        assert link["link_class"] == "NV18"
        assert link["ceiling_gbps"] == 450.0
    rows = gpu_table(snap)
    assert rows[0]["pcie_link"] == "PCIe Gen5 x16"
    assert rows[0]["pcie_gbps"] == pytest.approx(63.04)
    assert rows[0]["nvlink_to_switch"] == 18


def test_h100_nvswitch_passes_every_check():
    assert set(statuses(fixture("h100_sxm_8gpu_nvswitch")).values()) == {"PASS"}


def test_idle_pcie_generation_is_not_judged_but_flagged():
    snap = copy.deepcopy(fixture("h100_sxm_8gpu_nvswitch"))
    snap["load"] = {"requested": False, "ran": False, "reason": "not requested", "seconds": 0.0}
    for g in snap["gpus"]:
        g["pcie"]["curr_gen_under_load"] = None
    gen = next(c for c in diagnose(snap) if c["check"] == "pcie_generation")
    assert gen["status"] == "WARN"
    assert "not judged" in gen["detail"]
    # The ceiling assumes the max generation rather than the idle Gen1.
    link = pcie_link(snap["gpus"][0])
    assert (link["label"], link["gen_judged"]) == ("PCIe Gen5 x16", False)


# --- the same node with planted faults ---------------------------------------


def test_h100_faults_each_show_up_once():
    snap = fixture("h100_sxm_8gpu_faults")
    checks = {c["check"]: c for c in diagnose(snap)}
    assert {k for k, c in checks.items() if c["status"] != "PASS"} == {
        "host_swap",
        "pcie_generation",
        "nvlink",
        "gpu_memory_in_use",
    }
    assert checks["nvlink"]["status"] == "FAIL" and checks["nvlink"]["gpus"] == [5]
    assert "link 7 inactive (17/18 active)" in checks["nvlink"]["detail"]
    assert checks["pcie_generation"]["status"] == "FAIL" and checks["pcie_generation"]["gpus"] == [
        6
    ]
    assert checks["gpu_memory_in_use"]["gpus"] == [3]
    assert "pid 48213 holds 30.0 GiB" in checks["gpu_memory_in_use"]["detail"]
    assert checks["host_swap"]["status"] == "WARN"
    assert worst(list(checks.values())) == "FAIL"


def test_inactive_nvlink_lowers_the_group_ceiling():
    snap = fixture("h100_sxm_8gpu_faults")
    assert matrix(snap)[0][5] == "NV17"
    assert matrix(snap)[0][1] == "NV18"
    link = group_link({"a": snap}, ranks("a", range(8)))
    assert (link["link_class"], link["ceiling_gbps"]) == ("NV17", 425.0)
    assert "GPU5" in link["why"]
    without_5 = group_link({"a": snap}, ranks("a", [0, 1, 2, 3]))
    assert without_5["ceiling_gbps"] == 450.0
    assert gpu_table(snap)[6]["pcie_link"] == "PCIe Gen4 x16 (degraded, max Gen5)"


# --- 4x PCIe Gen4, one trained at x8 ------------------------------------------


def test_pcie_x8_gpu_is_the_degraded_bottleneck():
    snap = fixture("pcie_gen4_4gpu_x8")
    m = matrix(snap)
    assert m[0][1] == "NODE" and m[0][2] == "SYS" and m[2][3] == "NODE"
    assert [r["pcie_link"] for r in gpu_table(snap)] == [
        "PCIe Gen4 x16",
        "PCIe Gen4 x16",
        "PCIe Gen4 x8 (degraded, max x16)",
        "PCIe Gen4 x16",
    ]
    everyone = group_link({"n": snap}, ranks("n", range(4)))
    assert everyone["link_class"] == "PCIe Gen4 x8 (degraded, max x16)"
    assert everyone["ceiling_gbps"] == pytest.approx(15.76)
    healthy_pair = group_link({"n": snap}, ranks("n", [0, 1]))
    assert healthy_pair["link_class"] == "PCIe Gen4 x16"
    assert healthy_pair["ceiling_gbps"] == pytest.approx(31.52)


def test_pcie_x8_fails_the_width_check_and_nothing_else():
    checks = {c["check"]: c for c in diagnose(fixture("pcie_gen4_4gpu_x8"))}
    assert {k for k, c in checks.items() if c["status"] != "PASS"} == {"pcie_width"}
    width = checks["pcie_width"]
    assert width["status"] == "FAIL" and width["gpus"] == [2]
    assert "x8 of max x16" in width["detail"]
    assert "BIOS" in width["advice"]


def test_x8_slot_shows_only_against_identical_peers():
    snap = copy.deepcopy(fixture("pcie_gen4_4gpu_x8"))
    snap["gpus"][2]["pcie"]["max_width"] = 8  # a x16 card in a slot wired x8 reports max x8
    width = next(c for c in diagnose(snap) if c["check"] == "pcie_width")
    assert width["status"] == "WARN"
    assert "identical GPUs here have x16" in width["detail"]


# --- 2 PCIe GPUs over an NVLink bridge ----------------------------------------


def test_nvlink_bridge_is_nv12_at_300_gbps_and_healthy():
    snap = fixture("pcie_nvlink_bridge_2gpu")
    assert matrix(snap) == [["X", "NV12"], ["NV12", "X"]]
    link = group_link({"w": snap}, ranks("w", [0, 1]))
    assert (link["link_class"], link["ceiling_gbps"]) == ("NV12", 300.0)
    assert snap["nvlink_remote"]["to_switch"] == [0, 0]
    assert set(statuses(snap).values()) == {"PASS"}


def test_bridge_not_installed_is_a_warning_not_a_failure():
    snap = copy.deepcopy(fixture("pcie_nvlink_bridge_2gpu"))
    for g in snap["gpus"]:
        for link in g["nvlink"]:
            link["active"] = False
    nv = next(c for c in diagnose(snap) if c["check"] == "nvlink")
    assert nv["status"] == "WARN" and "all 12 NVLinks inactive" in nv["detail"]


# --- a throttling A100 with ECC errors ----------------------------------------


def test_a100_throttling_and_ecc_are_caught_on_gpu1():
    snap = fixture("a100_4gpu_throttle_ecc")
    checks = {c["check"]: c for c in diagnose(snap)}
    assert {k for k, c in checks.items() if c["status"] != "PASS"} == {
        "clock_events",
        "ecc",
        "row_remapping",
    }
    clocks = checks["clock_events"]
    assert clocks["status"] == "FAIL" and clocks["gpus"] == [1]
    assert "hardware thermal slowdown" in clocks["detail"]
    assert "SM 1005 of 1410 MHz" in clocks["detail"]
    assert "software power cap" not in clocks["detail"]  # 0x4 is set but harmless
    assert checks["ecc"]["status"] == "FAIL" and "2 uncorrected" in checks["ecc"]["detail"]
    assert checks["row_remapping"]["status"] == "WARN"


def test_sw_thermal_alone_is_a_warning():
    snap = copy.deepcopy(fixture("a100_4gpu_throttle_ecc"))
    snap["gpus"][1]["clock_events"]["mask"] = 0x20
    assert statuses(snap)["clock_events"] == "WARN"


def test_a100_direct_nvlinks_pair_vs_whole_board():
    snap = fixture("a100_4gpu_throttle_ecc")
    assert {matrix(snap)[i][j] for i in range(4) for j in range(4) if i != j} == {"NV4"}
    pair = node_group(snap, [0, 1])
    board = node_group(snap, [0, 1, 2, 3])
    # A pair has its 4 direct links; the whole board uses all 12 links of each GPU.
    assert (pair["link_class"], pair["ceiling_gbps"]) == ("NV4", 100.0)
    assert (board["link_class"], board["ceiling_gbps"]) == ("NV4", 300.0)


def test_lost_gpu_error_is_a_failure_unsupported_field_is_not():
    snap = copy.deepcopy(fixture("a100_4gpu_throttle_ecc"))
    assert statuses(snap)["nvml_errors"] == "PASS"  # "Not Supported" fields are normal
    snap["gpus"][2]["unknown"]["temperature"] = "error: GPU is lost"
    errors = next(c for c in diagnose(snap) if c["check"] == "nvml_errors")
    assert errors["status"] == "FAIL" and errors["gpus"] == [2]


# --- no driver ----------------------------------------------------------------


def test_no_driver_is_a_plain_warning_and_no_gpu_checks():
    checks = diagnose(fixture("no_driver"))
    assert [c["check"] for c in checks] == ["nvidia_driver", "host_swap"]
    assert checks[0]["status"] == "WARN"
    assert "libnvidia-ml.so.1 not found" in checks[0]["detail"]


# --- process groups -----------------------------------------------------------


def test_cpu_ranks_are_loopback_without_a_ceiling():
    snap = fixture("no_driver")
    link = group_link({"c": snap}, [{"node_id": "c", "gpu_index": None}] * 2)
    assert link == {
        "link_class": "loopback (gloo)",
        "ceiling_gbps": None,
        "why": link["why"],
    }


def test_single_rank_has_no_ceiling():
    link = group_link({"a": fixture("h100_sxm_8gpu_nvswitch")}, ranks("a", [0]))
    assert (link["link_class"], link["ceiling_gbps"]) == ("single rank", None)


def test_two_nodes_are_bound_by_the_slowest_nic():
    h100, l40s = fixture("h100_sxm_8gpu_nvswitch"), fixture("pcie_gen4_4gpu_x8")
    both_ib = group_link(
        {"a": h100, "b": copy.deepcopy(h100)}, ranks("a", range(8)) + ranks("b", range(8))
    )
    assert both_ib["link_class"] == "NET 400 Gb (IB)"
    assert both_ib["ceiling_gbps"] == 50.0
    mixed = group_link({"a": h100, "b": l40s}, ranks("a", [0, 1]) + ranks("b", [0, 1]))
    assert mixed["link_class"] == "NET 25 Gb"
    assert mixed["ceiling_gbps"] == pytest.approx(3.125, abs=0.01)
    assert "slowest node b" in mixed["why"]


def test_unknown_nic_speed_gives_no_ceiling():
    h100, ci = fixture("h100_sxm_8gpu_nvswitch"), fixture("no_driver")
    link = group_link(
        {"a": h100, "c": ci},
        [{"node_id": "a", "gpu_index": None}, {"node_id": "c", "gpu_index": None}],
    )
    assert link["ceiling_gbps"] is None
    assert link["link_class"] == "NET (speed unknown) (gloo)"
    assert "node c" in link["why"]


def test_ranks_may_name_their_gpu_by_uuid():
    snap = fixture("pcie_gen4_4gpu_x8")
    uuid = snap["gpus"][2]["uuid"]
    link = group_link(
        {"n": snap},
        [{"node_id": "n", "gpu_index": 0}, {"node_id": "n", "gpu_index": None, "gpu_uuid": uuid}],
    )
    assert link["link_class"] == "PCIe Gen4 x8 (degraded, max x16)"


def test_missing_snapshot_or_gpu_is_unknown_not_a_guess():
    snap = fixture("pcie_nvlink_bridge_2gpu")
    assert group_link({}, ranks("x", [0, 1]))["link_class"] == "unknown"
    far = group_link({"w": snap}, ranks("w", [0, 5]))
    assert far["link_class"] == "unknown" and far["ceiling_gbps"] is None


# --- across nodes -------------------------------------------------------------


def test_compare_nodes_flags_version_and_topology_mismatch():
    a = fixture("h100_sxm_8gpu_nvswitch")
    b = copy.deepcopy(a)
    b["host"]["nccl"] = "2.18.1"
    b["nvml"]["driver_version"] = "535.129.03"
    checks = {
        c["check"]: c for c in compare_nodes({"a": a, "b": b, "c": fixture("h100_sxm_8gpu_faults")})
    }
    assert checks["nodes_nccl"]["status"] == "FAIL"
    assert "2.18.1 on b" in checks["nodes_nccl"]["detail"]
    assert checks["nodes_driver"]["status"] == "WARN"
    assert checks["nodes_torch"]["status"] == "PASS"
    topo = checks["nodes_topology"]
    assert topo["status"] == "WARN" and "c GPU0-GPU5 is NV17, a has NV18" in topo["detail"]


def test_compare_one_node_is_empty():
    assert compare_nodes({"a": fixture("no_driver")}) == []


def test_a_lost_gpu_fails_and_the_others_keep_their_indices():
    snap = copy.deepcopy(fixture("pcie_gen4_4gpu_x8"))
    # As NVML reports it when GPU1 fell off the bus: left out, named in lost_gpus.
    del snap["gpus"][1]
    for key in ("p2p", "common_ancestor"):
        snap[key] = [
            [c for j, c in enumerate(row) if j != 1] for i, row in enumerate(snap[key]) if i != 1
        ]
    snap["nvlink_remote"] = resolve_nvlink_remote(snap["gpus"])
    snap["nvml"]["lost_gpus"] = [{"index": 1, "reason": "error: GPU is lost"}]
    driver = diagnose(snap)[0]
    assert (driver["check"], driver["status"], driver["gpus"]) == ("nvidia_driver", "FAIL", [1])
    link = group_link({"n": snap}, ranks("n", [2, 3]))
    assert link["link_class"] == "PCIe Gen4 x8 (degraded, max x16)"
    assert "GPU2" in link["why"]
    assert group_link({"n": snap}, ranks("n", [0, 1]))["link_class"] == "unknown"
    assert [r["index"] for r in gpu_table(snap)] == [0, 2, 3]
