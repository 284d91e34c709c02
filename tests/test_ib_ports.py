"""InfiniBand/RoCE ports from sysfs trees (tests/fixtures/sysfs_ib, built from the kernel's
documented formats) through the reader, the rails map and `scaling doctor`'s port check;
planted defects (a NIC down, a port at half rate, error counts, a node without ports) must
FAIL or WARN naming the port."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from scaling.cli import main
from scaling.hardware.infiniband import gpu_rails, path_label, ports

FIXTURES = Path(__file__).parent / "fixtures"
H100 = FIXTURES / "nvml" / "h100_sxm_8gpu_nvswitch.json"


def tree(tmp_path: Path, name: str = "node") -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURES / "sysfs_ib" / "dgx_h100", root, symlinks=True)
    return root


def set_port(root: Path, dev: str, **files: str) -> None:
    for key, text in files.items():
        path = root / "class" / "infiniband" / dev / "ports" / "1" / key.replace("__", "/")
        path.write_text(text + "\n")


def snapshot_file(tmp_path: Path, root: Path, hostname: str) -> str:
    snap = json.loads(H100.read_text())
    snap["host"]["hostname"] = hostname
    snap["host"]["infiniband"] = ports(root)
    out = tmp_path / f"{hostname}.json"
    out.write_text(json.dumps(snap))
    return str(out)


def doctor(*files: str):
    r = CliRunner().invoke(
        main, ["doctor", "--json", *[a for f in files for a in ("--snapshot", f)]]
    )
    doc = json.loads(r.output)
    found = {
        n: [c for c in checks if c["check"] == "ib_ports"] for n, checks in doc["nodes"].items()
    }
    return r.exit_code, found, doc


def test_the_reader_reads_state_rate_layer_counters_and_pcie_place(tmp_path):
    root = tree(tmp_path)
    got = ports(root)
    assert [p["device"] for p in got] == ["mlx5_0", "mlx5_3", "mlx5_4", "mlx5_5", "mlx5_6",
                                          "mlx5_9", "mlx5_10", "mlx5_11"]  # fmt: skip
    p = got[0]
    assert (p["state"], p["state_code"], p["phys_state"], p["phys_state_code"]) == (
        "ACTIVE",
        4,
        "LinkUp",
        5,
    )
    assert (p["rate_gbps"], p["rate"], p["link_layer"]) == (
        400.0,
        "400 Gb/sec (4X NDR)",
        "InfiniBand",
    )
    assert p["hca_type"] == "MT4129" and p["numa_node"] == 0
    assert p["counters"]["symbol_error"] == 0 and "port_xmit_data" not in p["counters"]
    assert p["pci_chain"] == [
        "pci0000:15",
        "0000:15:01.0",
        "0000:16:00.0",
        "0000:17:01.0",
        "0000:19:00.0",
    ]
    assert ports(tmp_path / "absent") == []


def test_each_gpu_finds_the_nic_behind_its_pcie_switch(tmp_path):
    root = tree(tmp_path)
    gpus = json.loads(H100.read_text())["gpus"]
    rails = gpu_rails(gpus, ports(root), root)
    assert [r["nics"] for r in rails] == [[f"{d}/1"] for d in ("mlx5_0", "mlx5_3", "mlx5_4", "mlx5_5",
                                                               "mlx5_6", "mlx5_9", "mlx5_10", "mlx5_11")]  # fmt: skip
    assert {r["path"] for r in rails} == {"PIX"}
    assert path_label(["pci0000:15", "a"], ["pci0000:9a", "b"], 0, 0) == "NODE"
    assert path_label(["pci0000:15", "a"], ["pci0000:9a", "b"], 0, 1) == "SYS"
    assert path_label(["pci0000:15", "a", "g"], ["pci0000:15", "b", "n"], 0, 0) == "PHB"


def test_a_healthy_node_passes_and_no_ports_is_not_run(tmp_path):
    code, found, _ = doctor(snapshot_file(tmp_path, tree(tmp_path), "dgx-a"))
    (c,) = found["dgx-a"]
    assert (
        code == 0
        and c["status"] == "PASS"
        and "8 ports ACTIVE/LinkUp (400 Gb/s InfiniBand)" in c["detail"]
    )
    bare = json.loads(H100.read_text())
    bare["host"]["infiniband"] = []
    (tmp_path / "bare.json").write_text(json.dumps(bare))
    code, found, doc = doctor(str(tmp_path / "bare.json"))
    assert code == 0 and found == {"dgx-h100-01": []}
    assert doc["not_run"] == ["ib_ports: not run (no InfiniBand/RoCE ports found)"]


PLANTED = [
    ("mlx5_5", {"state": "1: DOWN", "phys_state": "2: Polling"},
     "mlx5_5 port 1 is down (state DOWN, phys_state Polling) while 7 like it are up"),
    ("mlx5_9", {"rate": "200 Gb/sec (2X NDR)"},
     "mlx5_9 port 1 at 200 Gb/s (200 Gb/sec (2X NDR)) below its peers' 400 Gb/s"),
]  # fmt: skip


@pytest.mark.parametrize(
    "dev, files, detail", PLANTED, ids=["one NIC down", "one port at half rate"]
)
def test_a_planted_port_defect_fails_naming_the_port(tmp_path, dev, files, detail):
    root = tree(tmp_path)
    set_port(root, dev, **files)
    code, found, _ = doctor(snapshot_file(tmp_path, root, "dgx-a"))
    (c,) = found["dgx-a"]
    assert code == 1 and c["status"] == "FAIL" and c["detail"] == detail


def test_error_counters_warn_with_the_counts(tmp_path):
    root = tree(tmp_path)
    set_port(root, "mlx5_3", counters__symbol_error="12", counters__link_downed="1")
    code, found, _ = doctor(snapshot_file(tmp_path, root, "dgx-a"))
    (c,) = found["dgx-a"]
    assert code == 0 and c["status"] == "WARN"
    assert "mlx5_3 port 1 error counters symbol_error=12, link_downed=1" in c["detail"]


def test_across_nodes_a_slow_node_and_a_node_without_ports_fail(tmp_path):
    good, slow, bare = tree(tmp_path, "a"), tree(tmp_path, "b"), tree(tmp_path, "c")
    for dev in ("mlx5_0", "mlx5_3", "mlx5_4", "mlx5_5", "mlx5_6", "mlx5_9", "mlx5_10", "mlx5_11"):
        set_port(slow, dev, rate="200 Gb/sec (4X HDR)")  # the whole node trained at HDR
    shutil.rmtree(bare / "class" / "infiniband")
    code, found, _ = doctor(*(snapshot_file(tmp_path, r, h) for r, h in
                              ((good, "n1"), (slow, "n2"), (bare, "n3"))))  # fmt: skip
    assert code == 1 and found["n1"][0]["status"] == "PASS"
    assert found["n2"][0]["status"] == "FAIL"
    assert (
        "mlx5_0 port 1 at 200 Gb/s (200 Gb/sec (4X HDR)) below its peers' 400 Gb/s"
        in found["n2"][0]["detail"]
    )
    assert found["n3"][0]["status"] == "FAIL" and found["n3"][0]["detail"].startswith(
        "no InfiniBand/RoCE ports found here; 16 on n1, n2"
    )


def _validate(snaps: dict[str, dict], transports: dict[str, str] | None = None):
    from scaling.collector.validate.assemble import assemble
    from scaling.config.validate import ValidateConfig

    records = [
        {"type": "validate", "check": "snapshot", "node": n, "snapshot": s}
        for n, s in snaps.items()
    ]
    records += [{"type": "validate", "check": "transport", "node": n, "transport": t}
                for n, t in (transports or {}).items()]  # fmt: skip
    result = assemble(records, ValidateConfig())
    return result, {v.node: v for v in result.verdicts if v.check == "ib_ports"}


def test_validate_fails_the_node_with_a_nic_down_and_says_when_ports_were_not_checked(tmp_path):
    good, bad = tree(tmp_path, "a"), tree(tmp_path, "b")
    set_port(bad, "mlx5_10", state="1: DOWN", phys_state="3: Disabled")
    snaps = {
        h: json.loads(Path(snapshot_file(tmp_path, r, h)).read_text())
        for r, h in ((good, "n1"), (bad, "n2"))
    }
    result, ib = _validate(snaps)
    assert ib["n1"].verdict == "PASS" and ib["n2"].verdict == "FAIL"
    assert ib["n2"].code == "HEALTH_IB_PORTS" and ib["n2"].scope == "node"
    assert ib["n2"].evidence.startswith("mlx5_10 port 1 is down (state DOWN, phys_state Disabled)")
    assert result.exit_code == 1
    for s in snaps.values():
        s["host"]["infiniband"] = []
    result, ib = _validate(snaps, {"n1": "NET/IB, P2P/CUMEM", "n2": "NET/IB"})
    assert {n: v.verdict for n, v in ib.items()} == {"n1": "WARN", "n2": "WARN"}
    assert "NCCL reported NET/IB, but no InfiniBand/RoCE ports found in sysfs" in ib["n2"].evidence
    result, ib = _validate(snaps)
    assert (
        ib == {}
        and "ib_ports: not run (no InfiniBand/RoCE ports found on any node)" in result.notes
    )


def test_the_network_ceiling_counts_the_rails_the_ranks_gpus_reach(tmp_path):
    from scaling.hardware.rails import unreached_ports
    from scaling.hardware.topology import group_link

    root = tree(tmp_path)
    snaps = {}
    for node in ("a", "b"):
        snap = json.loads(H100.read_text())
        snap["host"]["infiniband"] = ports(root)
        snap["rails"] = gpu_rails(snap["gpus"], snap["host"]["infiniband"], root)
        snaps[node] = snap

    def ranks(k: int) -> list[dict]:
        return [{"node_id": n, "gpu_index": g} for n in snaps for g in range(k)]

    every = group_link(snaps, ranks(8))
    assert every["ceiling_gbps"] == 400.0 and every["link_class"] == "NET 400 Gb (IB) x8"
    assert "8 of 8 such ports nearest the ranks' GPUs (mlx5_0/1, mlx5_10/1" in every["why"]
    assert group_link(snaps, ranks(1))["ceiling_gbps"] == 50.0  # one rank per node: one NIC
    assert unreached_ports(snaps["a"], [0]) == [f"{d}/1" for d in ("mlx5_10", "mlx5_11", "mlx5_3",
                                                                   "mlx5_4", "mlx5_5", "mlx5_6", "mlx5_9")]  # fmt: skip
    for snap in snaps.values():
        del snap["rails"]  # an old snapshot: affinity unknown, one port counted
    unknown = group_link(snaps, ranks(8))
    assert unknown["ceiling_gbps"] == 50.0 and "GPU-NIC affinity unknown" in unknown["why"]


def test_node_records_name_the_rails_of_the_ranks_and_the_ports_none_reaches(tmp_path):
    from types import SimpleNamespace

    from scaling.validate.links import node_records
    from scaling.validate.ranks import Ranks

    root = tree(tmp_path)
    snap = json.loads(H100.read_text())
    snap["host"]["infiniband"] = ports(root)
    snap["rails"] = gpu_rails(snap["gpus"], snap["host"]["infiniband"], root)
    metas = [{"node_id": "nodeA", "hostname": "h", "node_ip": "10.0.0.1", "device": "cuda",
              "gpu_index": g["index"], "gpu_uuid": g["uuid"], "gpu_name": g["name"]}
             for g in snap["gpus"][:2]]  # fmt: skip
    (node,) = node_records(Ranks(SimpleNamespace(metas=metas)), {"nodeA": snap}, "nccl")
    assert node["rails"] == [
        {"gpu": 0, "bus_id": "00000000:18:00.0", "path": "PIX", "nics": ["mlx5_0/1"]},
        {"gpu": 1, "bus_id": "00000000:2A:00.0", "path": "PIX", "nics": ["mlx5_3/1"]},
    ]
    assert node["rails_unreached"] == ["mlx5_10/1", "mlx5_11/1", "mlx5_4/1", "mlx5_5/1",
                                       "mlx5_6/1", "mlx5_9/1"]  # fmt: skip
