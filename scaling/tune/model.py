"""What the memory model needs to know about the tuned workload, from the driver's config.

    facts = model_facts(cfg, "resnet50", device="cpu")   # shape, optimizer, preset, batch
    capacity, source = capacity_of(cfg, device, metas, snapshots)

The shapes come from scaling/collector/tune/shapes.py (counted, not built); which shape and
optimizer a workload trains is said here, next to the workload modules it mirrors
(workloads/resnet50.py: SGD with momentum and weight decay; workloads/transformer.py: AdamW,
fused on CUDA). tests/test_tune_memory.py checks the shapes against the built models.
"""

from __future__ import annotations

from dataclasses import dataclass

from scaling.collector.tune.memory import OptimizerSpec, default_impl
from scaling.collector.tune.shapes import ModelShape, resnet_shape, transformer_shape

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
    if workload == "resnet50":
        shape = resnet_shape((3, 4, 6, 3), bottleneck=True, name=f"resnet50 ({preset})")
        optimizer = OptimizerSpec("sgd", impl=default_impl(device))
    elif workload == "transformer":
        from scaling.workloads.models.gpt import transformer_config

        overrides = {"seq_len": section.seq_len} if section.seq_len else {}
        t = transformer_config(preset, **overrides)
        shape = transformer_shape(t.n_layer, t.d_model, t.seq_len, t.vocab_size, preset)
        optimizer = OptimizerSpec("adamw", impl=default_impl(device, fused=device == "cuda"))
    else:
        raise ValueError(f"tune has no memory model for workload {workload!r}")
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
