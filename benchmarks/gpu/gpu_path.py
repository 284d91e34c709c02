"""The kit's issue-23 figures: validate on the GPU, one GPU's numbers, start-up, multi-rank NCCL.

summarize.py calls these on check.sh's work directory. What they read:

- runs/validate: `scaling validate --level quick` (its manifest holds the NVML snapshot
  it took, and each rank's gpu_index, UUID and PCI bus id as the rank opened its GPU);
- topo-out.json: `scaling topo`'s snapshot, the numbering doctor and ASPM use (NVML's);
- runs/*/startup.csv: communicator start-up per world size (run: NCCL at one rank;
  multirank: two ranks sharing the GPU over gloo; validate: none at one rank, no group).

Multi-rank NCCL is not run: NCCL refuses two ranks on one GPU, and the kit's machine has one.
The summary says so instead of passing off the gloo multirank step as NCCL.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

RUNS = ("suite", "multirank", "validate")
NCCL_ONE_GPU = (
    "not run: NCCL refuses two ranks on one GPU, and this machine has {gpus}; the multirank "
    "step runs 2 ranks over gloo with CUDA tensors (SCALING_TEST_SHARE_GPU=1), which proves the "
    "cluster path, not NCCL between ranks"
)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def startup_rows(work: Path) -> list[dict]:
    """Every startup.csv row of the kit's runs, tagged with the run (step) it came from."""
    rows = []
    for run in RUNS:
        path = work / "runs" / run / "startup.csv"
        if path.exists():
            with path.open() as fh:
                rows += [{"run": run, **r} for r in csv.DictReader(fh)]
    return rows


def gpu_numbers(work: Path) -> dict:
    """One GPU, one number: the validate rank's gpu_index against NVML's index for its UUID
    in validate's snapshot and in the topo step's (`scaling topo`: doctor's numbering). agree: True, False, or None (not known)."""
    manifest = _json(work / "runs" / "validate" / "manifest.json") or {}
    snap = _snapshot_gpus(manifest.get("topology"))
    snap_index = {str(g.get("uuid")): g.get("index") for g in snap}
    topo = {
        str(g.get("uuid")): g.get("index") for g in _snapshot_gpus(_json(work / "topo-out.json"))
    }
    out = []
    for r in manifest.get("ranks") or []:
        if r.get("device") != "cuda":
            continue  # a CPU rank has no GPU to number
        uuid = r.get("gpu_uuid")
        key = uuid if not uuid or str(uuid).startswith("GPU-") else f"GPU-{uuid}"
        seen = [r.get("gpu_index"), snap_index.get(str(key)), topo.get(str(key))]
        known = [x for x in seen if x is not None]
        out.append(
            {"rank_gpu_index": seen[0], "nvml_index": seen[1], "topo_index": seen[2],
             "uuid": uuid, "pci_bus_id": r.get("gpu_pci_bus_id"),
             "agree": (len(set(known)) == 1) if len(known) == 3 else None}
        )  # fmt: skip
    return {"gpus_in_snapshot": len(snap), "ranks": out}


def _snapshot_gpus(doc: Any) -> list[dict]:
    nodes = (doc or {}).get("nodes") or {}
    snap = next(iter(nodes.values()), {}).get("snapshot", {}) if nodes else {}
    return [g for g in snap.get("gpus") or [] if isinstance(g, dict)]


def validate_figures(work: Path) -> dict:
    doc = _json(work / "runs" / "validate" / "validate.json") or {}
    return {"status": doc.get("status"), "counts": doc.get("counts")}


def nccl_multirank(device: str, gpus: int) -> str:
    if device != "cuda":
        return "not run: cpu dry run (no NCCL)"
    if gpus >= 2:
        return f"not run: the kit's steps use one GPU (this machine has {gpus})"
    return NCCL_ONE_GPU.format(gpus="one" if gpus == 1 else "no GPU NVML could see")


def figures(work: Path, device: str) -> dict:
    numbers = gpu_numbers(work)
    return {
        "validate": validate_figures(work) | {"gpu_numbers": numbers["ranks"]},
        "startup": startup_rows(work),
        "nccl_multirank": nccl_multirank(device, numbers["gpus_in_snapshot"]),
    }


def _ms(x: Any) -> str:
    try:
        return f"{float(x) * 1e3:.3g}"
    except (TypeError, ValueError):
        return "n/a"


def render(figs: dict) -> list[str]:
    v = figs["validate"]
    lines = ["", "the GPU path, measured in this run"]
    lines.append(f"  validate --level quick: {v['status'] or 'n/a'} {v['counts'] or ''}".rstrip())
    if not v["gpu_numbers"]:
        lines.append("  GPU numbers: n/a (no CUDA rank)")
    for g in v["gpu_numbers"]:
        agree = {True: "one number", False: "NUMBERS DIFFER", None: "not all known"}[g["agree"]]
        lines.append(
            f"  GPU {g['uuid'] or 'n/a'} ({g['pci_bus_id'] or 'bus n/a'}): rank gpu_index "
            f"{g['rank_gpu_index']}, NVML {g['nvml_index']}, topo/doctor {g['topo_index']}: {agree}"
        )
    if not figs["startup"]:
        lines.append("  start-up: n/a (no startup.csv in the runs)")
    for r in figs["startup"]:
        lines.append(
            f"  start-up ms, {r['run']} world size {r['world_size']} {r['group']} ({r['backend']}):"
            f" rendezvous {_ms(r['rendezvous_s'])}, init_process_group {_ms(r['init_s'])},"
            f" first collective {_ms(r['first_collective_s'])}, setup {_ms(r['setup_s'])}"
        )
    lines.append(f"  multi-rank NCCL: {figs['nccl_multirank']}")
    return lines
