"""A snapshot of this machine: host facts plus everything NVML says, as plain JSON.

    python -c "import json, scaling.hardware.probe as p; print(json.dumps(p.probe(), indent=1))"

Snapshot format (schema 1; tests/fixtures/nvml/*.json use exactly this):

    {"schema": 1, "taken_at": ISO time, "source": "probe" | "hand-built fixture",
     "load": {"requested", "ran", "reason", "seconds"},
     "host": {...host.host_facts()...},
     "nvml": {"available": bool, "reason": str | None, "driver_version", "cuda_driver_version",
              "lost_gpus": [{"index", "reason"}]},   GPUs NVML could not open
     ("gpus" and the matrices below are in NVML index order, lost GPUs left out)
     "gpus": [...one dict per GPU, see nvml._read_gpu...],
     "p2p": [["X", "OK", ...], ...],            NVML P2P read status per pair
     "common_ancestor": [["X", "PIX", ...]],    PCIe path, `nvidia-smi topo -m` labels
     "nvlink_remote": {"to_gpu": [[links]], "to_switch": [links], "to_other": [links]}}

Topology and diagnosis take this dict; whether it came from `probe()` or from
`load_snapshot()` makes no difference to them.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scaling.hardware.host import host_facts
from scaling.hardware.link_warmup import run_load
from scaling.hardware.nvml import read_gpus
from scaling.hardware.nvml_readers import sample_pcie_generation

SCHEMA = 1
REQUIRED_KEYS = ("host", "nvml", "gpus", "p2p", "common_ancestor", "nvlink_remote")


class SnapshotError(ValueError):
    """A snapshot file that cannot be used (missing, not JSON, wrong shape): a user error."""


def _load_and_sample(seconds: float) -> tuple[dict[str, Any], dict[int, int]]:
    stop = threading.Event()
    seen: dict[int, int] = {}
    sampler = threading.Thread(
        target=lambda: seen.update(sample_pcie_generation(stop)), name="pcie-gen-sampler"
    )
    sampler.start()
    try:
        result = run_load(seconds)
    finally:
        stop.set()
        sampler.join()
    return result, seen


def probe(load: bool = False, load_seconds: float = 2.0) -> dict[str, Any]:
    """Snapshot this machine. load=True first reads idle state, then runs a short GPU
    matmul (only where torch sees CUDA) while sampling each link's PCIe generation."""
    snapshot: dict[str, Any] = {
        "schema": SCHEMA,
        "taken_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": "probe",
        "load": {"requested": load, "ran": False, "reason": "not requested", "seconds": 0.0},
        "host": host_facts(),
    }
    # Read before loading: the processes on the GPUs and their memory are the
    # other users', not our own load.
    snapshot.update(read_gpus())
    gpus = snapshot["gpus"]
    if not load:
        return snapshot
    if not gpus:
        snapshot["load"]["reason"] = snapshot["nvml"]["reason"] or "no GPU"
        return snapshot
    result, seen = _load_and_sample(load_seconds)
    snapshot["load"] = {"requested": True, **{k: result[k] for k in ("ran", "reason", "seconds")}}
    if not result["ran"]:
        return snapshot
    loaded = set(result["uuids"]) if result["uuids"] is not None else None
    if loaded is None and len(gpus) != 1:
        snapshot["load"]["reason"] = "torch could not name the loaded GPUs; generations not judged"
        return snapshot
    for gpu in gpus:
        if (loaded is None or gpu["uuid"] in loaded) and gpu["index"] in seen:
            gpu["pcie"]["curr_gen_under_load"] = seen[gpu["index"]]
    return snapshot


def check_snapshot(snapshot: Any, where: str) -> dict[str, Any]:
    """Raise SnapshotError unless `snapshot` has the probe's shape."""
    if not isinstance(snapshot, dict):
        raise SnapshotError(f"{where}: a snapshot is a JSON object, got {type(snapshot).__name__}")
    if snapshot.get("schema") != SCHEMA:
        raise SnapshotError(f"{where}: schema {snapshot.get('schema')!r}, expected {SCHEMA}")
    missing = [k for k in REQUIRED_KEYS if k not in snapshot]
    if missing:
        raise SnapshotError(f"{where}: missing {', '.join(missing)}")
    n = len(snapshot["gpus"])
    for key in ("p2p", "common_ancestor"):
        rows = snapshot[key]
        if len(rows) != n or any(len(row) != n for row in rows):
            raise SnapshotError(f"{where}: {key} must be {n}x{n} for {n} GPUs")
    return snapshot


def _read_json(path: str | Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise SnapshotError(f"cannot read snapshot {path}: {e.strerror or e}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SnapshotError(f"{path} is not valid JSON: {e.msg} (line {e.lineno})") from None


def load_snapshots(path: str | Path) -> dict[str, dict[str, Any]]:
    """node name -> snapshot, from a one-node file (named after its host) or a
    multi-node file {"schema": 1, "nodes": {name: snapshot}} as `topo --save` writes."""
    data = _read_json(path)
    if isinstance(data, dict) and "nodes" in data and "gpus" not in data:
        if not isinstance(data["nodes"], dict) or not data["nodes"]:
            raise SnapshotError(f"{path}: 'nodes' must map node names to snapshots")
        return {
            str(name): check_snapshot(snap, f"{path} node {name}")
            for name, snap in data["nodes"].items()
        }
    snap = check_snapshot(data, str(path))
    return {str(snap["host"].get("hostname") or Path(path).stem): snap}


def load_snapshot(path: str | Path) -> dict[str, Any]:
    """One node's snapshot from a JSON file written by `probe()` (or `scaling topo --save`)."""
    nodes = load_snapshots(path)
    if len(nodes) != 1:
        raise SnapshotError(f"{path} holds {len(nodes)} nodes; use load_snapshots()")
    return next(iter(nodes.values()))
