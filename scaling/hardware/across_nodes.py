"""Checks across nodes: torch, NCCL, CUDA, driver, GPUs and topology the same everywhere.

Ranks built against different torch/NCCL/CUDA can hang in the first collective, and nodes
with different drivers or GPUs give per-node numbers that do not compare. Each check is the
same PASS / WARN / FAIL record as a single node's (hardware/diagnose.py).

    checks = compare_nodes({"node-a": snapshot_a, "node-b": snapshot_b})   # [] for one node
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from scaling.hardware.diagnose import FAIL, PASS, WARN, check
from scaling.hardware.topology import matrix


def _gpu_models(snap: dict[str, Any]) -> str:
    counts = Counter(g["name"] for g in snap["gpus"])
    return ", ".join(f"{n}x {name}" for name, n in sorted(counts.items())) or "no GPU"


# (check, what, status when nodes differ, where the value lives)
_NODE_FIELDS: tuple[tuple[str, str, str, Callable[[dict[str, Any]], Any]], ...] = (
    ("nodes_torch", "torch", FAIL, lambda s: s["host"].get("torch")),
    ("nodes_nccl", "NCCL", FAIL, lambda s: s["host"].get("nccl")),
    ("nodes_cuda_runtime", "CUDA runtime", FAIL, lambda s: s["host"].get("cuda_runtime")),
    ("nodes_driver", "NVIDIA driver", WARN, lambda s: s["nvml"]["driver_version"]),
    ("nodes_cuda_driver", "driver CUDA version", WARN, lambda s: s["nvml"]["cuda_driver_version"]),
    ("nodes_gpus", "GPUs", WARN, _gpu_models),
)

_NODE_ADVICE = {
    FAIL: "Ranks built against different torch/NCCL/CUDA can hang or crash in the first "
    "collective. Install the same versions on every node (same image).",
    WARN: "Nodes differ, so per-node numbers are not comparable and the slowest node sets the "
    "pace. Align drivers and hardware, or exclude the odd node.",
}


def _compare_topology(snapshots: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Label matrices against the first node's; names the first differing pair per node."""
    nodes = list(snapshots)
    ref_node = nodes[0]
    ref = matrix(snapshots[ref_node])
    diffs = []
    for node in nodes[1:]:
        m = matrix(snapshots[node])
        if m == ref:
            continue
        if len(m) != len(ref):
            diffs.append(f"{node} has {len(m)} GPUs, {ref_node} {len(ref)}")
            continue
        i, j = next((i, j) for i in range(len(m)) for j in range(len(m)) if m[i][j] != ref[i][j])
        diffs.append(f"{node} GPU{i}-GPU{j} is {m[i][j]}, {ref_node} has {ref[i][j]}")
    if not diffs:
        return check("nodes_topology", PASS, f"GPU topology the same on all {len(nodes)} nodes")
    return check(
        "nodes_topology", WARN, "GPU topology differs: " + "; ".join(diffs), _NODE_ADVICE[WARN]
    )


def compare_nodes(snapshots: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Checks that torch, NCCL, CUDA, driver, GPUs and topology match across nodes.

    Returns [] for a single node: there is nothing to compare.
    """
    if len(snapshots) < 2:
        return []
    checks = []
    for name, what, status, get in _NODE_FIELDS:
        groups: dict[str, list[str]] = defaultdict(list)
        for node, snap in snapshots.items():
            groups[str(get(snap))].append(node)
        if len(groups) == 1:
            value = next(iter(groups))
            checks.append(
                check(name, PASS, f"{what} the same on all {len(snapshots)} nodes: {value}")
            )
            continue
        detail = "; ".join(f"{value} on {', '.join(nodes)}" for value, nodes in groups.items())
        checks.append(check(name, status, f"{what} differs: {detail}", _NODE_ADVICE[status]))
    checks.append(_compare_topology(snapshots))
    return checks
