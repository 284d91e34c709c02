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
    from scaling.workloads import registry

    wl = registry.get(workload)
    section = getattr(cfg, workload)
    preset = section.preset
    if preset == "auto":
        preset = wl.model.auto_preset[device]
    batch = section.batch or wl.presets[preset]["batch"]
    if workload == "resnet50":
        shape = resnet_shape((3, 4, 6, 3), bottleneck=True, name=f"resnet50 ({preset})")
        optimizer = OptimizerSpec("sgd", impl=default_impl(device))
    elif workload == "transformer":
        from scaling.workloads.models.transformer import transformer_config

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
        from scaling.collector.tune.memory import fmt_bytes

        return target, f"--target-memory {fmt_bytes(target)}"
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
