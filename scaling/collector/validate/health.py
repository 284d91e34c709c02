"""`scaling doctor`'s checks (scaling/hardware/diagnose.py) as validate verdicts.

validate runs everything doctor checks; the check dicts doctor already returns become one
node-scope verdict each (code HEALTH_<CHECK>), keeping doctor's status, detail and advice, so
a degraded PCIe link or an ECC error stops validation the same way it stops doctor.
"""

from __future__ import annotations

from scaling.collector.validate.codes import PASS, doctor_code
from scaling.collector.validate.verdicts import Verdict


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
