"""Recorded check results -> verdicts (collector/validate/assemble.py), on records built by
hand in the driver's format: figures from raw timings, the slowest member per iteration,
lost ranks as NO_MEASUREMENT, doctor's checks judged on what NVML read under load, the
inter-node bar and reference, and --baseline through collector/judge.py. No Ray, no torch."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest

from scaling.collector.judge import judge
from scaling.collector.validate.assemble import assemble, under_load
from scaling.collector.validate.baseline import against_baseline, paired
from scaling.collector.validate.internode import (
    GroupBar,
    group_bar,
    group_outcome,
    reference_from_pairs,
)
from scaling.collector.validate.records import busbw_rounds, rounds_of
from scaling.config.validate import ValidateConfig
from scaling.hardware.probe import load_snapshot
from scaling.validate.links import node_records, rank_records
from scaling.validate.ranks import Ranks, node_names

CPU = "AMD EPYC"
NODE = "n0"
H100 = "NVIDIA H100 80GB HBM3"
FIXTURE = Path(__file__).parent / "fixtures" / "nvml" / "h100_sxm_8gpu_nvswitch.json"


def who(rank: int, node: str = NODE, **kw) -> dict:
    return {"rank": rank, "node": node, "node_index": 0, "hostname": node, "gpu": rank,
            "uuid": None, "model": CPU, "device": "cpu", **kw}  # fmt: skip


def rec(check: str, rank: int, **fields) -> dict:
    return {"type": "validate", "check": check, **who(rank), **fields}


def cpu_records(ranks: int = 3) -> list[dict]:
    """One node of `ranks` CPU ranks, healthy unless a test changes it."""
    out = [rec("rank", r) for r in range(ranks)]
    out.append({"type": "validate", "check": "node", "node": NODE, "node_index": 0, "device": "cpu",
                "model": CPU, "members": list(range(ranks)), "allreduce_ceiling_gbps": None})  # fmt: skip
    for r in range(ranks):
        out.append(
            rec("gemm", r, times=[0.1] * 5, work=2e12 * 0.1, precision="fp32", device_name=CPU)
        )
        out.append(rec("sdc", r, digests=["aa", "aa"], device_name=CPU))
    return out


def verdicts_of(result, check: str) -> dict:
    return {v.subject: v for v in result.verdicts if v.check == check}


def test_figures_come_from_raw_timings_and_the_slowest_member():
    assert rounds_of({"check": "gemm", "times": [0.5, 0.25], "work": 1e12}) == [2.0, 4.0]
    assert rounds_of({"check": "h2d", "rounds": [50.0, 51.0]}) == [50.0, 51.0]
    members = [{"times": [1e-3, 2e-3], "ranks": 2, "size_bytes": 1e6},
               {"times": [2e-3, 1e-3], "ranks": 2, "size_bytes": 1e6}]  # fmt: skip
    # per iteration the slowest member's time; busbw = S/t x 2(n-1)/n (= 1 at n = 2)
    assert busbw_rounds(members) == pytest.approx([0.5, 0.5])
    assert busbw_rounds(members[:1] + [{"error": "lost"}]) == []  # a member without times


def test_slow_gemm_corrupt_digest_and_lost_rank_are_named():
    records = cpu_records(4)
    records[records.index(rec("gemm", 2, times=[0.1] * 5, work=2e11, precision="fp32",
                                  device_name=CPU))]["times"] = [0.4] * 5  # fmt: skip
    for r in records:
        if r["check"] == "sdc" and r["rank"] == 1:
            r["digests"] = ["bb", "bb"]
        if r["check"] in ("gemm", "sdc") and r["rank"] == 3:
            for k in ("times", "digests"):
                r.pop(k, None)
            r["error"] = (
                "rank 3 (pid 42, host n0) did not finish the gemm check within 12 s and does not answer"
            )
    result = assemble(records, ValidateConfig())
    gemm, sdc = verdicts_of(result, "gemm"), verdicts_of(result, "sdc")
    assert gemm["n0 rank2"].code == "GEMM_BELOW_FLEET" and gemm["n0 rank2"].value == pytest.approx(
        0.5
    )
    assert gemm["n0 rank0"].verdict == "PASS" and gemm["n0 rank0"].value == pytest.approx(2.0)
    assert sdc["n0 rank1"].code == "SDC_MISMATCH" and sdc["n0 rank0"].verdict == "PASS"
    for v in (gemm["n0 rank3"], sdc["n0 rank3"]):
        assert v.code == "NO_MEASUREMENT" and "does not answer" in v.evidence
    assert result.exit_code == 1 and result.nodes[0]["device"] == "cpu"


def test_node_allreduce_pairs_and_storage():
    records = cpu_records(3)
    records += [rec("allreduce", r, times=[2e-3] * 4, ranks=3, size_bytes=1_000_000,
                    wrong=5 if r == 1 else 0, group_id="node:n0") for r in range(3)]  # fmt: skip
    gbps = {(0, 1): 10.0, (1, 0): 10.0, (0, 2): 10.0, (2, 0): 2.0, (1, 2): 10.0, (2, 1): None}
    for (a, b), v in gbps.items():
        fields = (
            {"error": "rank 2 did not answer"} if v is None else {"times": [1.0], "work": v * 1e9}
        )
        records.append(rec("p2p", a, peer_rank=b, **fields))
    records.append({"type": "validate", "check": "storage", "node": NODE, "gbps": 0.5,
                    "method": "O_DIRECT", "filesystem": "ext4", "path": "/ckpt"})  # fmt: skip
    result = assemble(records, ValidateConfig(p2p_min_gbps=5.0))
    allreduce = [v for v in result.verdicts if v.check == "allreduce"]
    busbw = next(v for v in allreduce if v.code != "COMM_WRONG_RESULT")
    assert busbw.value == pytest.approx(1e6 / 2e-3 / 1e9 * 4 / 3)  # 2(n-1)/n at n = 3
    assert any(v.code == "COMM_WRONG_RESULT" and v.value == 5 for v in allreduce)
    pairs = {
        (v.gpu, v.peer_gpu): v for v in result.verdicts if v.check == "p2p" and v.scope == "link"
    }
    assert pairs[(0, 1)].verdict == "PASS"
    assert pairs[(0, 2)].code == "P2P_BELOW_MIN" and pairs[(0, 2)].value == pytest.approx(2.0)
    assert pairs[(1, 2)].code == "NO_MEASUREMENT" and "did not answer" in pairs[(1, 2)].evidence
    storage = verdicts_of(result, "storage")["n0"]
    assert storage.verdict == "WARN" and "O_DIRECT on ext4 (/ckpt)" in storage.evidence


def test_doctor_judges_what_nvml_read_under_load():
    snap = load_snapshot(FIXTURE)
    uuid = snap["gpus"][0]["uuid"]
    health = {
        "available": True,
        "clock_events": 0x40 | 0x1,
        "temperature_max_c": 91,
        "pcie_gen_max": 4,
    }
    loaded = under_load(snap, {uuid.removeprefix("GPU-"): health})
    assert (
        loaded["gpus"][0]["pcie"]["curr_gen_under_load"] == 4
        and snap["gpus"][0]["temperature_c"] == 31
    )
    records = [{"type": "validate", "check": "snapshot", "node": NODE, "snapshot": snap},
               {**rec("gemm", 0, times=[0.1], work=1e14, precision="bf16"), "uuid": uuid,
                "model": H100, "device": "cuda", "health": health}]  # fmt: skip
    doctor = {v.check: v for v in assemble(records, ValidateConfig()).verdicts if v.node == NODE}
    assert doctor["clock_events"].verdict == "FAIL" and "91 C" in doctor["clock_events"].evidence
    assert doctor["pcie_generation"].code == "HEALTH_PCIE_GENERATION"
    assert "Gen4 under load, max Gen5" in doctor["pcie_generation"].evidence
    assert doctor["nvlink"].verdict == "PASS"


def test_a_node_whose_host_checks_did_not_answer_fails():
    records = [
        {
            "type": "validate",
            "check": "snapshot",
            "node": "n1",
            "error": "node 1a2b3c4d did not answer within 120 s",
        }
    ]
    v = assemble(records, ValidateConfig()).verdicts[0]
    assert v.code == "NO_MEASUREMENT" and v.node == "n1" and "did not answer" in v.evidence


def test_group_bar_prefers_a_minimum_then_the_ceiling_then_the_reference():
    cfg = ValidateConfig()
    assert group_bar(ValidateConfig(inter_node_min_busbw_gbps=60.0)).value == 60.0
    assert group_bar(cfg, 50.0, "NET 400 Gb/s").value == pytest.approx(35.0)
    assert group_bar(cfg, None, "", 2.0, "pairs").value == pytest.approx(1.5)
    assert group_bar(cfg).value is None
    # a node with one bad partner still shows a good pair; the bad node's best is outvoted
    value, how = reference_from_pairs({("a", "b"): 1.0, ("a", "c"): 0.1, ("b", "c"): 0.1})
    assert value == pytest.approx(1.0) and "median over 3 nodes" in how
    assert "its own reference" in reference_from_pairs({("a", "b"): 1.0})[1]


def test_group_outcome_from_member_records():
    bar = GroupBar(0.5, "test")
    ok = [{"times": [1e-3] * 3, "ranks": 2, "size_bytes": 1e6, "wrong": 0, "wall_s": 0.2}] * 2
    assert group_outcome(ok, {}, bar, ("a", "b")).passed
    slow = [dict(ok[0], times=[4e-3] * 3)] * 2
    got = group_outcome(slow, {}, bar, ("a", "b"))
    assert not got.passed and got.value == pytest.approx(0.25) and "below" in got.detail
    wrong = [dict(ok[0], wrong=3), ok[1]]
    assert "3 wrong elements" in group_outcome(wrong, {}, bar, ("a", "b")).detail
    lost = group_outcome(ok[:1], {"b": "rank 1 does not answer"}, bar, ("a", "b"))
    assert lost.missing == ("b",) and "does not answer" in lost.detail


def test_baseline_is_judged_beyond_both_runs_spread():
    def run(seconds: float):
        records = cpu_records(3)
        for r in records:
            if r["check"] == "gemm":
                r["times"] = [seconds * f for f in (1.0, 1.01, 0.99, 1.005, 0.995)]
        return assemble(records, ValidateConfig())

    base, same, slower = run(0.1), run(0.1), run(0.2)
    family = len(paired(same, base))
    assert family == 3  # the three GEMM figures; digests are not figures

    def compare(new):
        return against_baseline(new, base, partial(judge, threshold_pct=5.0, family=family))

    assert {v.verdict for v in compare(same).verdicts} == {"PASS"}
    regressed = compare(slower)
    assert {v.code for v in regressed.verdicts} == {"BASELINE_REGRESSION"}
    v = regressed.verdicts[0]
    assert v.check == "gemm_vs_baseline" and v.details["judgment"]["ratio"] == pytest.approx(2.0)


def test_rank_and_node_records_carry_the_links_of_the_snapshot():
    snap = load_snapshot(FIXTURE)
    metas = [{"node_id": "nodeA", "hostname": "h", "node_ip": "10.0.0.1", "device": "cuda",
              "gpu_index": g["index"], "gpu_uuid": g["uuid"], "gpu_name": g["name"], "pid": 1}
             for g in snap["gpus"][:2]]  # fmt: skip
    ranks = Ranks(SimpleNamespace(metas=metas))
    r0 = rank_records(ranks, {"nodeA": snap})[0]
    assert r0["pcie_label"] == "PCIe Gen5 x16" and r0["pcie_ceiling_gbps"] == pytest.approx(
        63.0, rel=0.01
    )
    node = node_records(ranks, {"nodeA": snap}, "nccl")[0]
    assert node["link_class"][0][1].startswith("NV") and node["allreduce_ceiling_gbps"]
    assert node["members"] == [0, 1] and node["node"] == "h"


def test_nodes_sharing_a_hostname_get_their_own_names():
    metas = [{"node_id": "aaaaaaaa11", "hostname": "vm"}, {"node_id": "bbbbbbbb22", "hostname": "vm"},
             {"node_id": "cccccccc33", "hostname": "other"}]  # fmt: skip
    assert node_names(metas) == {"aaaaaaaa11": "vm-aaaaaaaa", "bbbbbbbb22": "vm-bbbbbbbb",
                                 "cccccccc33": "other"}  # fmt: skip
