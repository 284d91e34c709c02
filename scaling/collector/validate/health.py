"""`scaling doctor`'s checks (scaling/hardware/diagnose.py) as validate verdicts.

validate runs everything doctor checks; the check dicts doctor already returns become one
node-scope verdict each (code HEALTH_<CHECK>), keeping doctor's status, detail and advice, so
a degraded PCIe link or an ECC error stops validation the same way it stops doctor.
"""

from __future__ import annotations

from scaling.collector.validate.codes import PASS, WARN, doctor_code
from scaling.collector.validate.verdicts import Verdict, missing

NOT_APPLICABLE = ("Not Supported", "No data")
"""NVML's answers that mean the GPU has no such thing (no NVLink on a PCIe card, no page
retirement on HBM parts with row remapping): the check does not apply, nothing is missing."""


def unreadable(node: str, snapshot: dict) -> list[Verdict]:
    """A CUDA node's health data that could not be read: NO_MEASUREMENT (FAIL), never a WARN.
    NVML not loaded is one verdict for the node; otherwise one per GPU naming the fields that
    NVML could not answer (permission, a function this nvidia-ml-py lacks); fields it says do
    not exist on the GPU are skipped, and errors ("GPU is lost") are nvml_errors' FAIL."""
    nvml = snapshot.get("nvml") or {}
    if not nvml.get("available"):
        why = nvml.get("reason") or "NVML did not load"
        return [missing(dict(check="nvml", scope="node", node=node),
                        f"NVML unavailable on a CUDA node, no GPU health was read: {why}")]  # fmt: skip
    out = []
    for g in snapshot.get("gpus", []):
        lost = {k: v for k, v in (g.get("unknown") or {}).items()
                if not v.startswith("error:") and v not in NOT_APPLICABLE}  # fmt: skip
        if lost:
            fields = "; ".join(f"{k}: {v}" for k, v in sorted(lost.items()))
            base = dict(check="nvml", scope="gpu", node=node, gpu=g.get("index"),
                        uuid=g.get("uuid"), model=g.get("name"))  # fmt: skip
            out.append(missing(base, f"NVML could not read {fields}"))
    return out


def mark_own(snapshot: dict, pids: set[int]) -> dict:
    """The gang's own ranks are not "another process" on a GPU (gpu_memory_in_use): their
    pids, as NVML lists them, are marked self. Containers with their own pid namespace show
    NVML host pids: those ranks still read as others, and doctor's WARN says which pid."""
    for g in snapshot.get("gpus", []):
        if isinstance(g.get("processes"), list):
            for p in g["processes"]:
                if p.get("pid") in pids:
                    p["self"] = True
    return snapshot


def across_verdicts(nodes: list[str], checks: list[dict]) -> list[Verdict]:
    """compare_nodes()' checks (torch, NCCL, driver, GPUs, topology the same on every node):
    one group verdict each, since which node is the odd one is the evidence's to say."""
    return [Verdict(
        check=c["check"], verdict=c["status"], scope="group",
        code=None if c["status"] == PASS else doctor_code(c["check"]),
        evidence=c["detail"], details={"advice": c.get("advice", ""), "nodes": list(nodes)},
    ) for c in checks]  # fmt: skip


def doctor_verdicts(node: str, checks: list[dict]) -> list[Verdict]:
    """checks: what diagnose() (one node) or compare_nodes() returned for it."""
    out = []
    for c in checks:
        status = c["status"]
        out.append(Verdict(
            check=c["check"], verdict=status, scope="node", node=node,
            code=None if status == PASS else doctor_code(c["check"]),
            evidence=c["detail"], details={"advice": c.get("advice", ""), "gpus": c.get("gpus", [])},
        ))  # fmt: skip
    return out


def planted(records: list[dict], ranks: dict) -> list[Verdict]:
    """SCALING_FAULTS set on the driver or any rank: one WARN naming where, so a run with
    planted faults is never read as the cluster's own figures."""
    where = []
    for r in records:
        for key, label in (("driver", "the driver"), ("cluster_env", "[cluster] env")):
            if r.get(key):
                where.append(f"{label}: {r[key]}")
    seen: dict[str, list[str]] = {}
    for r in ranks.values():
        if r.get("scaling_faults"):
            seen.setdefault(r["scaling_faults"], []).append(f"{r.get('node')} rank {r.get('rank')}")
    where += [f"{', '.join(who)}: {value}" for value, who in seen.items()]
    if not where:
        return []
    nodes = sorted({r.get("node") for r in ranks.values() if r.get("scaling_faults")})
    return [Verdict(check="faults", verdict=WARN, scope="group", code="FAULTS_PLANTED",
                    evidence=f"SCALING_FAULTS set ({'; '.join(where)}): planted faults, "
                    "not the cluster's own figures", details={"nodes": nodes, "where": where})]  # fmt: skip
