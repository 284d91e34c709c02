"""The probe on this real machine (no NVIDIA driver), host parsers, and snapshot files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scaling.hardware import host
from scaling.hardware.diagnose import diagnose
from scaling.hardware.infiniband import parse_rate
from scaling.hardware.link_warmup import cuda_absent_reason, run_load
from scaling.hardware.nvml import init_failure, read_gpus, resolve_nvlink_remote
from scaling.hardware.probe import SnapshotError, load_snapshot, load_snapshots, probe
from scaling.hardware.transfers import compare_to_ceilings, measure_transfers

HAS_NVML = init_failure() is None
no_gpu_here = pytest.mark.skipif(HAS_NVML, reason="this test covers the no-driver path")


@pytest.fixture(scope="module")
def live():
    return probe(load=True)


def test_live_probe_is_json_and_host_facts_are_real(live):
    assert json.loads(json.dumps(live)) == live
    h = live["host"]
    assert h["cpu_logical"] == os.cpu_count()
    assert h["numa_nodes"] >= 1
    assert h["mem_total_bytes"] > 0 and h["mem_available_bytes"] <= h["mem_total_bytes"]
    assert h["swap_used_bytes"] >= 0
    assert h["hostname"] and h["kernel"] == os.uname().release
    assert "lo" not in [n["name"] for n in h["nics"]]
    import torch

    assert h["torch"] == torch.__version__


@no_gpu_here
def test_live_probe_without_driver_is_a_normal_state(live):
    assert live["nvml"]["available"] is False
    assert "NVIDIA" in live["nvml"]["reason"] or "pynvml" in live["nvml"]["reason"]
    assert live["gpus"] == [] and live["p2p"] == [] and live["common_ancestor"] == []
    assert live["load"]["requested"] is True and live["load"]["ran"] is False
    assert [c["check"] for c in diagnose(live)] == ["nvidia_driver", "host_swap"]


@no_gpu_here
def test_read_gpus_reports_the_reason():
    part = read_gpus()
    assert part["nvml"] == {
        "available": False,
        "reason": init_failure(),
        "driver_version": "unknown",
        "cuda_driver_version": "unknown",
        "lost_gpus": [],
    }


def test_saved_snapshot_reads_back_identically(live, tmp_path):
    path = tmp_path / "node.json"
    path.write_text(json.dumps(live))
    assert load_snapshot(path) == live
    assert diagnose(load_snapshot(path)) == diagnose(live)


def test_snapshot_errors_are_one_line(tmp_path):
    with pytest.raises(SnapshotError, match="cannot read snapshot"):
        load_snapshot(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SnapshotError, match="not valid JSON"):
        load_snapshot(bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"schema": 1, "host": {}}))
    with pytest.raises(SnapshotError, match="missing nvml, gpus"):
        load_snapshot(wrong)
    wrong.write_text(json.dumps([1, 2]))
    with pytest.raises(SnapshotError, match="JSON object"):
        load_snapshot(wrong)


def test_multi_node_file(live, tmp_path):
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"schema": 1, "nodes": {"a": live, "b": live}}))
    assert list(load_snapshots(path)) == ["a", "b"]
    with pytest.raises(SnapshotError, match="holds 2 nodes"):
        load_snapshot(path)


CPUINFO = """processor\t: 0
model name\t: AMD EPYC 9354 32-Core Processor
physical id\t: 0
core id\t: 0

processor\t: 1
model name\t: AMD EPYC 9354 32-Core Processor
physical id\t: 0
core id\t: 0

processor\t: 2
model name\t: AMD EPYC 9354 32-Core Processor
physical id\t: 1
core id\t: 0
"""


def test_cpuinfo_counts_physical_cores_once_per_socket_core():
    facts = host.cpu_facts(CPUINFO)
    assert facts["cpu_model"] == "AMD EPYC 9354 32-Core Processor"
    assert facts["cpu_physical"] == 2  # two hyperthreads of core 0 on socket 0, one on socket 1


def test_meminfo_swap_in_use():
    text = "MemTotal: 1000 kB\nMemAvailable: 400 kB\nSwapTotal: 2048 kB\nSwapFree: 1024 kB\n"
    facts = host.memory_facts(text)
    assert facts["swap_used_bytes"] == 1024 * 1024
    assert facts["mem_total_bytes"] == 1000 * 1024
    assert host.memory_facts("")["swap_used_bytes"] == "unknown"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def test_infiniband_ports_from_a_sysfs_tree(tmp_path):
    # The same files the kernel exposes under /sys/class/infiniband (this VM has none); the
    # reader (hardware/infiniband.py) takes the sysfs root.
    port = tmp_path / "class" / "infiniband" / "mlx5_0" / "ports" / "1"
    _write(port / "rate", "400 Gb/sec (4X NDR)")
    _write(port / "state", "4: ACTIVE")
    _write(port / "link_layer", "InfiniBand")
    roce = tmp_path / "class" / "infiniband" / "mlx5_1" / "ports" / "1"
    _write(roce / "rate", "100 Gb/sec (4X EDR)")
    _write(roce / "state", "1: DOWN")
    _write(roce / "link_layer", "Ethernet")
    ports = host.infiniband_ports(tmp_path)
    keys = ("device", "port", "rate_gbps", "state", "link_layer")
    assert [{k: p[k] for k in keys} for p in ports] == [
        {
            "device": "mlx5_0",
            "port": "1",
            "rate_gbps": 400.0,
            "state": "ACTIVE",
            "link_layer": "InfiniBand",
        },
        {
            "device": "mlx5_1",
            "port": "1",
            "rate_gbps": 100.0,
            "state": "DOWN",
            "link_layer": "Ethernet",
        },
    ]
    assert ports[1]["phys_state"] == "unknown" and ports[1]["pci_chain"] == []
    assert host.infiniband_ports(tmp_path / "absent") == []
    assert parse_rate("garbage") is None


def test_ethernet_speeds_from_the_real_sysfs():
    nics = host.ethernet_nics()
    for nic in nics:
        speed = Path("/sys/class/net", nic["name"], "speed")
        try:
            raw = int(speed.read_text())
        except (OSError, ValueError):
            raw = None
        assert nic["speed_mbps"] == (raw if raw and raw > 0 else None)


def test_nvlink_remote_resolution_by_bus_id():
    def g(i, bus, links):
        return {"index": i, "bus_id": bus, "nvlink": links}

    def link(active, kind, bus):
        return {
            "link": 0,
            "active": active,
            "version": "4.0",
            "remote_type": kind,
            "remote_bus_id": bus,
        }

    gpus = [
        g(
            0,
            "00000000:41:00.0",
            [link(True, "gpu", "00000000:61:00.0")] * 2 + [link(False, "gpu", "00000000:61:00.0")],
        ),
        g(
            1,
            "00000000:61:00.0",
            [link(True, "gpu", "00000000:41:00.0")] * 2
            + [link(True, "switch", "00000000:05:00.0")],
        ),
        g(2, "00000000:81:00.0", "unknown"),
    ]
    assert resolve_nvlink_remote(gpus) == {
        "to_gpu": [[0, 2, 0], [2, 0, 0], [0, 0, 0]],
        "to_switch": [0, 1, 0],
        "to_other": [0, 0, 0],
    }


@pytest.mark.skipif(cuda_absent_reason() is None, reason="covers the no-CUDA path")
def test_load_and_transfers_say_plainly_they_cannot_run():
    reason = cuda_absent_reason()
    assert "CPU-only build" in reason or "no CUDA device" in reason
    assert run_load(0.1) == {"ran": False, "reason": reason, "seconds": 0.0, "uuids": None}
    result = measure_transfers()
    assert result == {"available": False, "reason": f"cannot measure transfers: {reason}"}
    assert compare_to_ceilings(result, {"gpus": []}) == []


def test_measured_transfers_are_compared_with_their_links():
    # A result shaped as measure_transfers returns it on 2 GPUs (hand-written: no GPU here).
    snap = load_snapshot(
        Path(__file__).parent / "fixtures" / "nvml" / "pcie_nvlink_bridge_2gpu.json"
    )
    uuids = [g["uuid"] for g in snap["gpus"]]
    one = {"gbps": 55.0, "samples_gbps": [55.0]}
    result = {
        "available": True,
        "devices": [
            {"torch_index": i, "name": "NVIDIA H100 PCIe", "uuid": u} for i, u in enumerate(uuids)
        ],
        "h2d": [one, one],
        "d2h": [one, one],
        "d2d": [{"gbps": 1300.0}, {"gbps": 1300.0}],
        "p2p": [[None, {"gbps": 240.0}], [{"gbps": 240.0}, None]],
        "p2p_access": [[True, True], [True, True]],
    }
    rows = {(r["test"], r["where"]): r for r in compare_to_ceilings(result, snap)}
    h2d = rows[("h2d", "cuda:0")]
    assert h2d["ceiling_gbps"] == pytest.approx(63.04)
    assert h2d["ratio"] == pytest.approx(55.0 / 63.04, abs=1e-3)
    assert (
        rows[("d2d", "cuda:1")]["ceiling_gbps"] is None and rows[("d2d", "cuda:1")]["ratio"] is None
    )
    p2p = rows[("p2p", "cuda:0->cuda:1")]
    assert (p2p["link"], p2p["ceiling_gbps"], p2p["ratio"]) == ("NV12", 300.0, 0.8)
    result["devices"][1]["uuid"] = "GPU-not-on-this-node"
    rows = {(r["test"], r["where"]): r for r in compare_to_ceilings(result, snap)}
    assert rows[("h2d", "cuda:1")]["ceiling_gbps"] is None
    assert rows[("p2p", "cuda:0->cuda:1")]["ceiling_gbps"] is None


def test_nvlink_far_end_of_unknown_type_is_fabric_unless_it_is_a_gpu_here():
    def link(kind, bus):
        return {
            "link": 0,
            "active": True,
            "version": "3.1",
            "remote_type": kind,
            "remote_bus_id": bus,
        }

    gpus = [
        # Older drivers cannot name the far end's type; bus ids differ in domain width.
        {
            "index": 0,
            "bus_id": "00000000:07:00.0",
            "nvlink": [link("unknown", "0000:0F:00.0"), link("unknown", "00000000:C0:00.0")],
        },
        {"index": 1, "bus_id": "00000000:0F:00.0", "nvlink": [link("ibmnpu", "00000000:04:00.0")]},
    ]
    assert resolve_nvlink_remote(gpus) == {
        "to_gpu": [[0, 1], [0, 0]],
        "to_switch": [1, 0],
        "to_other": [0, 1],
    }


def test_power_reading_is_none_without_a_driver():
    from scaling.hardware.nvml import init_failure
    from scaling.hardware.nvml_readers import read_power_util

    if init_failure() is None:
        pytest.skip("this host has a working NVIDIA driver")
    assert read_power_util(0) is None
    assert read_power_util("GPU-00000000-0000-0000-0000-000000000000") is None
