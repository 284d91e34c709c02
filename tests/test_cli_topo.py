"""`scaling topo` and `scaling doctor` through click's CliRunner: exit codes and output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from scaling.cli import main
from scaling.hardware.link_warmup import cuda_absent_reason
from scaling.hardware.nvml import init_failure

FIXTURES = Path(__file__).parent / "fixtures" / "nvml"


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def fx(name: str) -> str:
    return str(FIXTURES / f"{name}.json")


def test_topo_on_h100_shows_nv18_and_the_ceiling():
    r = run("topo", "--snapshot", fx("h100_sxm_8gpu_nvswitch"))
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    gpu0 = next(line for line in lines if line.startswith("GPU0 "))
    assert gpu0.split()[1:9] == ["X"] + ["NV18"] * 7
    assert "PCIe Gen5 x16" in r.output and "450" in r.output
    assert "NET 400 Gb (IB), 8 ports" in r.output
    assert "theoretical one-direction ceilings" in r.output


def test_topo_shows_the_degraded_link():
    r = run("topo", "--snapshot", fx("pcie_gen4_4gpu_x8"))
    assert r.exit_code == 0, r.output
    row = next(line for line in r.output.splitlines() if line.startswith("2 "))
    assert "PCIe Gen4 x8 (degraded, max x16)" in row and "15.76" in row


def test_topo_json_holds_snapshot_and_matrix():
    r = run("topo", "--json", "--snapshot", fx("pcie_nvlink_bridge_2gpu"))
    assert r.exit_code == 0
    node = json.loads(r.output)["nodes"]["h100pcie-ws-1"]
    assert node["topology"]["matrix"] == [["X", "NV12"], ["NV12", "X"]]
    assert node["snapshot"]["gpus"][0]["name"] == "NVIDIA H100 PCIe"


def test_doctor_on_ecc_fixture_exits_1_with_explanations():
    r = run("doctor", "--snapshot", fx("a100_4gpu_throttle_ecc"))
    assert r.exit_code == 1, r.output
    lines = r.output.splitlines()
    assert any(line.startswith("FAIL  ecc") and "GPU1: 2 uncorrected" in line for line in lines)
    assert any(line.startswith("FAIL  clock_events") for line in lines)
    assert any(line.startswith("PASS  pcie_width") for line in lines)
    assert "-> Uncorrected errors can corrupt results" in r.output
    assert lines[-1] == "FAIL: 2 FAIL, 1 WARN, 7 PASS"


def test_doctor_on_healthy_fixture_exits_0():
    r = run("doctor", "--snapshot", fx("h100_sxm_8gpu_nvswitch"))
    assert r.exit_code == 0, r.output
    # the 11th PASS: its eight 400 Gb NDR ports (hardware/ib_health.py)
    assert r.output.splitlines()[-1] == "PASS: 0 FAIL, 0 WARN, 11 PASS"
    assert "ib_ports" in r.output and "8 ports ACTIVE/LinkUp" in r.output


def test_doctor_json_compares_nodes():
    r = run(
        "doctor",
        "--json",
        "--snapshot",
        fx("h100_sxm_8gpu_nvswitch"),
        "--snapshot",
        fx("h100_sxm_8gpu_faults"),
    )
    assert r.exit_code == 1
    out = json.loads(r.output)
    assert out["status"] == "FAIL"
    assert set(out["nodes"]) == {"dgx-h100-01", "dgx-h100-07"}
    topo = next(c for c in out["across_nodes"] if c["check"] == "nodes_topology")
    assert topo["status"] == "WARN"


@pytest.mark.skipif(init_failure() is None, reason="covers machines without an NVIDIA driver")
def test_this_machine_says_plainly_there_is_no_gpu():
    reason = init_failure()
    topo = run("topo")
    assert topo.exit_code == 0, topo.output
    assert f"No GPU: {reason}." in topo.output
    doctor = run("doctor")
    assert doctor.exit_code == 0, doctor.output
    assert f"WARN  nvidia_driver  no GPU checks ran: {reason}" in doctor.output


def test_save_then_read_back(tmp_path):
    saved = tmp_path / "node.json"
    r = run("topo", "--save", str(saved))
    assert r.exit_code == 0, r.output
    assert json.loads(saved.read_text())["schema"] == 1
    again = run("doctor", "--snapshot", str(saved))
    assert again.exit_code == 0, again.output


def test_bad_snapshot_path_is_one_line_exit_2(tmp_path):
    r = run("doctor", "--snapshot", str(tmp_path / "nope.json"))
    assert r.exit_code == 2
    errors = [line for line in r.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "cannot read snapshot" in errors[0]
    assert "Traceback" not in r.output


def test_bad_json_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    r = run("topo", "--snapshot", str(bad))
    assert r.exit_code == 2
    assert "is not valid JSON" in r.output and "Traceback" not in r.output


def test_address_and_snapshot_together_is_a_usage_error():
    r = run("topo", "--address", "auto", "--snapshot", fx("no_driver"))
    assert r.exit_code == 2 and "use one of them" in r.output


def test_help_has_examples():
    for cmd in ("topo", "doctor"):
        r = run(cmd, "--help")
        assert (
            r.exit_code == 0 and "Examples:" in r.output and f"scaling {cmd} --snapshot" in r.output
        )


@pytest.mark.skipif(cuda_absent_reason() is None, reason="covers machines without CUDA")
def test_transfers_without_cuda_say_why():
    r = run("topo", "--transfers")
    assert r.exit_code == 0, r.output
    assert f"cannot measure transfers: {cuda_absent_reason()}" in r.output
    assert "GB/s" not in r.output.split("cannot measure transfers")[1]


def test_unreachable_cluster_is_exit_2_without_traceback():
    r = run("doctor", "--address", "127.0.0.1:1")
    assert r.exit_code == 2
    assert "cannot reach Ray cluster at 127.0.0.1:1" in r.output and "Traceback" not in r.output
