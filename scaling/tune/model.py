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
    from scaling.cluster.node_memory import node_memory

    found = []
    for node in node_memory(device, metas, snapshots):
        if device == "cuda":
            found.append((node.capacity_bytes, f"{node.where} (NVML)"))
        else:
            found.append((node.capacity_bytes // node.ranks,
                          f"available host memory of {node.host} / {node.ranks} ranks"))  # fmt: skip
    if not found:
        return None, "unknown (no hardware snapshot): nothing pruned on memory"
    return min(found)
