"""What the memory model needs to know about the tuned workload, from the driver's config.

    facts = model_facts(cfg, "resnet50", device="cpu")   # shape, optimizer, preset, batch
    capacity, source = capacity_of(cfg, device, metas, snapshots)

The shape and optimizer come from the workload's model spec (`training.Model.memory`, next
to the `setup` it describes), so any registered training workload that declares them is
tunable. tests/test_tune_memory.py checks the shapes against the built models.
"""

from __future__ import annotations

from dataclasses import dataclass

from scaling.workloads.training.optimizer import OptimizerSpec
from scaling.workloads.training.shapes import ModelShape

AUTO_PRECISION = {"cpu": "fp32", "cuda": "bf16"}
"""What precision "auto" runs (workloads/training/bench.py AUTO_PRECISION)."""


@dataclass(frozen=True)
class ModelFacts:
    workload: str
    preset: str
    batch: int
    """The run config's per-rank batch: the base candidate's."""
    shape: ModelShape
    optimizer: OptimizerSpec


def model_facts(cfg, workload: str, device: str) -> ModelFacts:
    from scaling.workloads import catalog

    wl = catalog.get(workload)
    section = getattr(cfg, workload)
    preset = section.preset
    if preset == "auto":
        preset = wl.model.auto_preset[device]
    batch = section.batch or wl.presets[preset]["batch"]
    memory = getattr(wl.model, "memory", None)
    if memory is None:
        raise ValueError(
            f"tune has no memory model for workload {workload!r}: its training.Model declares "
            "no `memory` (shape and optimizer)"
        )
    shape, optimizer = memory(section, preset, device)
    return ModelFacts(workload, preset, batch, shape, optimizer)


def capacity_of(cfg, device: str, metas: list[dict], snapshots: dict) -> tuple[int | None, str]:
    """(bytes one rank may use, where that figure comes from); None: unknown."""
    target = cfg.tune.target_memory
    if target:
        from scaling.config.units import format_bytes

        return target, f"--target-memory {format_bytes(target, 2)}"
    per_node: dict[str, int] = {}
    for m in metas:
        per_node[m["node_id"]] = per_node.get(m["node_id"], 0) + 1
    found = []
    for node, ranks in per_node.items():
        snap = snapshots.get(node) or {}
        host = (snap.get("host") or {}).get("hostname", node[:8])
        if device == "cuda":
            totals = [g.get("memory", {}).get("total_bytes") for g in snap.get("gpus") or []]
            totals = [t for t in totals if isinstance(t, int)]
            if totals:
                found.append((min(totals), f"the smallest GPU of {host} (NVML)"))
        else:
            total = (snap.get("host") or {}).get("mem_total_bytes")
            if isinstance(total, int):
                found.append((total // ranks, f"host RAM of {host} / {ranks} ranks"))
    if not found:
        return None, "unknown (no hardware snapshot): nothing pruned on memory"
    return min(found)
