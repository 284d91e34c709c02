"""Absolute bars applied only to like measurements (op, size, method, GPUs).

Healthy public-style figures go through the real collector (assemble) as the check workloads
record them (host_copies.records, peer_copy.records, membw's raw times) and PASS; the same
data with a planted defect FAILs naming the subject. No Ray, no torch.

Figures used, and where they come from:
- host copies 55.6 GB/s on PCIe Gen5 x16: nvbandwidth's host_to_device_memcpy_ce example
  (55.63 GB/s) in NVIDIA's NVbandwidth post, as quoted at
  https://dev.smart-guide.co.kr/en/tutorial/nvidia-nvbandwidth-measure-gpu-interconnect-performance-tutorial/
  (0.88 of Gen5 x16's 63 GB/s; the GPU is not named there, so this is a reconstruction);
- copy-engine peer copies 380 GB/s on an NVSwitch H100: reconstructed, 0.84 of NVLink4's
  450 GB/s one way, above NHC's 335 bar (conf/nd96isr_h100_v5.conf) as NHC's pass cases are;
- device copy 1,450 GB/s one way (2,900 read + write, 0.87 of the 3.35 TB/s datasheet):
  reconstructed from the 0.8-0.9 of peak that large copies reach.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from scaling.collector.validate.assemble import assemble
from scaling.collector.validate.codes import FAIL, PASS, WARN
from scaling.collector.validate.health import mark_own
from scaling.config.bars import COPY_ENGINE, GIB, MIB, NCCL, Bar, Measure
from scaling.config.validate import ValidateConfig, minimum
from scaling.hardware.probe import load_snapshot
from scaling.sinks import write_validation
from scaling.validate.copies import solo_rounds
from scaling.validate.ranks import Ranks
from scaling.workloads.checks import host_copies, peer_copy

H100 = "NVIDIA H100 80GB HBM3"
ROOT = SimpleNamespace(validate=ValidateConfig())  # the root config a workload's plan() reads
FIXTURE = Path(__file__).parent / "fixtures" / "nvml" / "h100_sxm_8gpu_nvswitch.json"
GEN5 = 63.0  # PCIe Gen5 x16, GB/s one way (hardware/decode.pcie_gbps)


def who(rank: int, node: str, gpus: int = 8) -> dict:
    return {"rank": rank, "node": node, "node_index": int(node[1:]), "hostname": node,
            "gpu": rank % gpus, "uuid": f"GPU-{node}-{rank % gpus}", "model": H100, "device": "cuda"}  # fmt: skip


def node_records(nodes: int = 1, gpus: int = 8, width: dict | None = None) -> list[dict]:
    """Rank and node records as validate/links.py writes them (x16 unless `width` says)."""
    out = []
    for n in range(nodes):
        node = f"n{n}"
        members = list(range(n * gpus, (n + 1) * gpus))
        for r in members:
            w = (width or {}).get((node, r % gpus), 16)
            out.append({"type": "validate", "check": "rank", **who(r, node, gpus), "pid": 1000 + r,
                        "pcie_ceiling_gbps": GEN5 * w / 16, "pcie_label": f"PCIe Gen5 x{w}"})  # fmt: skip
        out.append({"type": "validate", "check": "node", "node": node, "node_index": n, "device": "cuda",
                    "model": H100, "members": members, "allreduce_ceiling_gbps": 450.0})  # fmt: skip
    return out


def copies(members: list[int], node: str, gbps: dict, at_once: int, sharers=2) -> list[dict]:
    """h2d/d2h records through host_copies.records, as validate's rounds call it."""
    point = host_copies.plan(ROOT, len(members))[0] | {"all_at_once": at_once > 1}
    results = [{"who": who(r, node), "h2d": [gbps.get(r, 55.6)] * 5, "d2h": [gbps.get(r, 55.6)] * 5,
                "bytes": point["bytes"], "device_name": H100, "at_once": at_once, "sharers": sharers}
               for r in members]  # fmt: skip
    return host_copies.records(point, None, results)


def pairs(
    members: list[int], node: str, gbps: float = 380.0, slow: dict | None = None
) -> list[dict]:
    point = peer_copy.plan(ROOT, len(members))[0]
    found = [{"rank": a, "peer_rank": b, "rounds": [(slow or {}).get((a, b), gbps)] * 3, "peer_access": True}
             for a in members for b in members if a != b]  # fmt: skip
    res = {"who": who(members[0], node), "pairs": found, "bytes": point["bytes"]}
    return peer_copy.records(point, None, [res])


def membw(members: list[int], node: str, gbps: float = 1450.0) -> list[dict]:
    nbytes = 1024 * MIB  # levels.MEMBW_BYTES["cuda"]; membw.run's record: times for `work` bytes
    return [{"type": "validate", "check": "membw", **who(r, node), "bytes": nbytes,
             "work": float(nbytes * 10), "times": [nbytes * 10 / (gbps * 1e9)] * 5, "device_name": H100}
            for r in members]  # fmt: skip


def by(result, check: str) -> dict:
    return {v.subject: v for v in result.verdicts if v.check == check}


def healthy_node(node: str = "n0", first: int = 0, **kw) -> list[dict]:
    members = list(range(first, first + 8))
    out = []
    for r in members:  # one GPU at a time per switch: two rounds of four, as copies.solo_rounds
        out += copies([r], node, kw.get("alone", {}), at_once=1)
    out += copies(members, node, kw.get("together", dict.fromkeys(members, 27.0)), at_once=8)
    return out + pairs(members, node, slow=kw.get("slow_pairs")) + membw(members, node)


def test_a_bar_applies_only_to_a_like_measurement():
    bar = Bar("h2d_min_gbps", ((64 * MIB, 48.0), (512 * MIB, 48.0)), "src", "", op="h2d",
              method=COPY_ENGINE, gpus=1, at_once=1)  # fmt: skip
    alike = Measure("h2d", COPY_ENGINE, 256 * MIB, gpus=1, at_once=1)
    assert bar.unlike(alike) is None and bar.value_at(256 * MIB) == 48.0
    assert "8 at once" in bar.unlike(Measure("h2d", COPY_ENGINE, 256 * MIB, gpus=1, at_once=8))
    assert "at 64 MiB–512 MiB" in bar.unlike(
        Measure("h2d", COPY_ENGINE, 4 * GIB, gpus=1, at_once=1)
    )
    assert "nccl_send_recv" in bar.unlike(Measure("h2d", "nccl_send_recv", 256 * MIB, 1, at_once=1))
    # A size-dependent bar (a curve of public figures by size): read between two points.
    curve = Bar("allreduce_min_busbw_gbps", ((256 * MIB, 400.0), (16 * GIB, 460.0)), "curve", "",
                op="all_reduce", method=NCCL, gpus=8)  # fmt: skip
    assert curve.value_at(2 * GIB) == 400.0 + 60.0 * (3 / 6)  # log2: 28 -> 31 of 28 -> 34
    assert curve.value_at(128 * MIB) is None  # never extrapolated
    cfg = ValidateConfig()
    at_256m = minimum(
        cfg, "allreduce_min_busbw_gbps", H100, Measure("all_reduce", NCCL, 256 * MIB, 8)
    )
    assert at_256m.value is None and "this run at 256 MiB" in at_256m.not_applied
    assert (
        minimum(
            cfg, "allreduce_min_busbw_gbps", H100, Measure("all_reduce", NCCL, 16 * GIB, 8)
        ).value
        == 460.0
    )


def test_healthy_copy_engine_host_copy_and_memory_figures_pass():
    result = assemble(node_records() + healthy_node(), ValidateConfig())
    for check in ("h2d", "d2h", "h2d_all", "d2h_all", "peer_copy", "membw"):
        got = by(result, check)
        assert got and all(v.verdict == PASS for v in got.values()), (
            check,
            [v.evidence for v in got.values()],
        )
    h2d = by(result, "h2d")["n0 GPU0"]
    assert h2d.details["bar"]["applied"] and h2d.details["bar"]["method"] == "copy_engine"
    assert (
        "48 GB/s: h2d 64 MiB–512 MiB, copy_engine, 1 GPU(s), 1 at a time" in h2d.rule + h2d.evidence
    )
    crowd = by(result, "h2d_all")["n0 GPU0"]  # its own line: the share of the uplink, not 48
    assert crowd.details["bar"]["applied"] is False and "shared by 2 GPU(s)" in crowd.evidence
    pair = by(result, "peer_copy")["n0 GPU0<->GPU1"]
    assert pair.details["bar"]["op"] == "peer_copy" and "335" in pair.evidence
    mem = by(result, "membw")["n0 GPU0"]
    assert "0.7 x H100 SXM 3350 GB/s read+write" in mem.evidence
    doc = result.to_dict()
    bars = doc["thresholds"]["by_model"][H100]
    assert bars["allreduce_min_busbw_gbps"]["bar"]["points"] == [[16 * GIB, 460.0]]
    assert (
        bars["membw_min_gbps"]["value"] == 0.7 * 3350 / 2
        and bars["membw_min_gbps"]["bar"]["gpus"] == 1
    )
    assert result.exit_code == 0


def test_an_x8_link_fails_naming_the_gpu():
    records = node_records(width={("n0", 3): 8}) + healthy_node(alone={3: 27.8})
    v = by(assemble(records, ValidateConfig()), "h2d")["n0 GPU3"]
    assert (v.verdict, v.code) == (FAIL, "H2D_BELOW_MIN") and "PCIe Gen5 x8" in v.evidence


def test_a_slow_peer_copy_pair_fails_against_the_copy_engine_bar():
    result = assemble(node_records() + healthy_node(slow_pairs={(2, 5): 150.0}), ValidateConfig())
    v = by(result, "peer_copy")["n0 GPU2<->GPU5"]
    assert v.verdict == FAIL and v.code == "PEER_COPY_BELOW_MIN"


def test_a_node_30_percent_slower_in_memory_fails_and_so_does_a_lone_gpu():
    records = node_records(nodes=3)
    for n in range(3):
        members = list(range(8 * n, 8 * n + 8))
        records += membw(members, f"n{n}", 1450.0 * (0.7 if n == 2 else 1.0))
    got = by(assemble(records, ValidateConfig()), "membw")
    assert {s for s, v in got.items() if v.verdict == FAIL} == {f"n2 GPU{g}" for g in range(8)}
    assert got["n2 GPU0"].code == "MEMBW_BELOW_MIN"  # the HBM bar, not only the fleet
    # A uniformly slow fleet has no odd one out; the datasheet bar still fails it.
    lone = node_records(nodes=1) + membw(list(range(8)), "n0", 1000.0)
    assert all(v.verdict == FAIL for v in by(assemble(lone, ValidateConfig()), "membw").values())


def snapshot_record(node: str, nvml: dict, gpus: list[dict]) -> dict:
    snap = {"nvml": nvml, "gpus": gpus, "host": {"swap_used_bytes": 0}}
    return {"type": "validate", "check": "snapshot", "node": node, "snapshot": snap}


def test_missing_nvml_on_a_cuda_node_is_no_measurement():
    records = node_records() + [
        snapshot_record("n0", {"available": False, "reason": "libnvidia-ml.so.1 not found"}, [])
    ]
    result = assemble(records, ValidateConfig())
    (v,) = [v for v in result.verdicts if v.check == "nvml"]
    assert (v.verdict, v.code) == (FAIL, "NO_MEASUREMENT") and "libnvidia-ml" in v.evidence
    assert result.exit_code == 1


def test_sdc_compares_within_a_stack_and_warns_on_mixed_stacks():
    old = {"torch": "2.4.0", "cuda": "12.1", "cublas": "12.1.3.1"}
    new = {"torch": "2.6.0", "cuda": "12.4", "cublas": "12.4.5.8"}
    records = node_records(nodes=2)
    for r in range(16):
        st = new if r >= 8 else old
        records.append({"type": "validate", "check": "sdc", **who(r, f"n{r // 8}"),
                        "digests": ["new" if st is new else "old"] * 2, "stack": st, "device_name": H100})  # fmt: skip
    result = assemble(records, ValidateConfig())
    sdc = [v for v in result.verdicts if v.check == "sdc"]
    assert all(v.verdict == PASS for v in sdc if v.scope == "gpu")  # no false SDC_MISMATCH
    (mixed,) = [v for v in sdc if v.code == "SDC_MIXED_STACKS"]
    assert (
        mixed.verdict == WARN
        and "cuBLAS 12.1.3.1" in mixed.evidence
        and "cuBLAS 12.4.5.8" in mixed.evidence
    )


def test_a_set_scaling_faults_is_a_warning_naming_where():
    records = node_records()
    records[0]["scaling_faults"] = "slow_compute:rank=0:factor=2"
    records.append({"type": "validate", "check": "faults", "driver": None, "cluster_env": None})
    (v,) = [v for v in assemble(records, ValidateConfig()).verdicts if v.check == "faults"]
    assert (v.verdict, v.code) == (WARN, "FAULTS_PLANTED") and "n0 rank 0" in v.evidence
    assert not [
        v for v in assemble(node_records(), ValidateConfig()).verdicts if v.check == "faults"
    ]


def gang_of(nodes: int, gpus: int) -> SimpleNamespace:
    metas = [{"node_id": f"id{n}", "hostname": f"n{n}", "gpu_index": g, "gpu_uuid": f"GPU-{n}-{g}",
              "gpu_name": H100, "device": "cuda"} for n in range(nodes) for g in range(gpus)]  # fmt: skip
    return SimpleNamespace(metas=metas)


def test_host_copy_rounds_take_one_gpu_per_pcie_switch():
    gang = gang_of(2, 4)
    # GPUs 0,1 behind one switch (PIX), 2,3 behind another; the switches meet at the CPU.
    paths = [["X", "PIX", "NODE", "NODE"], ["PIX", "X", "NODE", "NODE"],
             ["NODE", "NODE", "X", "PXB"], ["NODE", "NODE", "PXB", "X"]]  # fmt: skip
    snaps = {f"id{n}": {"gpus": [{"uuid": f"GPU-{n}-{g}"} for g in range(4)], "common_ancestor": paths}
             for n in range(2)}  # fmt: skip
    rounds, sharers = solo_rounds(Ranks(gang), snaps)
    assert [[r.rank for r in rnd] for rnd in rounds] == [[0, 2, 4, 6], [1, 3, 5, 7]]
    assert set(sharers.values()) == {2}
    # Unknown topology: a node's GPUs one at a time, and no share of an uplink is assumed.
    rounds, sharers = solo_rounds(Ranks(gang), {})
    assert [[r.rank for r in rnd] for rnd in rounds] == [[0, 4], [1, 5], [2, 6], [3, 7]]
    assert set(sharers.values()) == {None}


def test_the_ranks_own_processes_are_not_another_process():
    gpu = {
        "index": 0,
        "uuid": "GPU-n0-0",
        "processes": [{"pid": 1000, "used_bytes": 2 << 30, "self": False}],
    }
    snap = {"gpus": [gpu]}
    assert mark_own(snap, {1000})["gpus"][0]["processes"][0]["self"] is True
    other = {"gpus": [{**gpu, "processes": [{"pid": 4242, "used_bytes": 2 << 30, "self": False}]}]}
    assert mark_own(other, {1000})["gpus"][0]["processes"][0]["self"] is False


def test_an_unreadable_nvml_field_fails_and_the_gangs_own_pids_do_not_warn(tmp_path):
    snap = load_snapshot(FIXTURE)
    snap["gpus"][2]["unknown"]["ecc.mode"] = "Insufficient Permissions"  # NVML NoPermission
    for g in snap["gpus"]:  # each rank's CUDA context, as NVML lists it (the probe is "self")
        g["processes"] = [{"pid": 1000 + g["index"], "used_bytes": 1 << 30, "self": False}]
    records = node_records() + [
        {"type": "validate", "check": "snapshot", "node": "n0", "snapshot": snap}
    ]
    result = assemble(records, ValidateConfig())
    nvml = [v for v in result.verdicts if v.check == "nvml"]
    assert [(v.subject, v.code) for v in nvml] == [("n0 GPU2", "NO_MEASUREMENT")]
    assert "ecc.mode: Insufficient Permissions" in nvml[0].evidence
    assert "retired_pages_pending" not in nvml[0].evidence  # "Not Supported": nothing missing
    (mem,) = [v for v in result.verdicts if v.check == "gpu_memory_in_use"]
    assert mem.verdict == PASS
    outputs = write_validation(result, tmp_path)  # every sink takes the new checks
    doc = json.loads(outputs["json"].read_text())
    assert doc["exit_code"] == 1 and any(v["check"] == "nvml" for v in doc["verdicts"])
