"""Data-parallel training steps: what the training workloads share (driver side, no torch).

A training workload (resnet50.py, transformer.py) is a model: its config section, presets,
and a rank-side `setup` that builds the model, optimizer and synthetic batch. Everything else
is shared and lives here: the [training] section, the point spec, the sample records, the
training.csv table, and `workload(...)`, which turns a model into a Workload spec.

The step itself is measured on the ranks by `bench.py` (stages: build, wrap, probe, warmup,
ddp, local, comm, compute), wrapping the model with a parallel strategy (`strategy.py`: DDP,
`fsdp2.py`: FSDP2; `blocks.py`: the repeated blocks they shard, checkpoint and compile), with
`checksum.py` and `peak_memory.py` for its checks. The figures are defined in
docs/formulas.md (scaling efficiency, exposed communication, overlap, MFU).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scaling.config.fields import setting
from scaling.config.tune import TuneConfig
from scaling.hardware.peaks import PRECISIONS
from scaling.rundir import TRAINING
from scaling.strategies import DDP, FSDP2_REDUCE_DEFAULT, FSDP2_REDUCE_DTYPES
from scaling.strategies import names as strategy_names
from scaling.workloads.catalog import WORKLOADS, PointKey, Table, Workload, record_key
from scaling.workloads.training.optimizer import OptimizerSpec
from scaling.workloads.training.shapes import ModelShape

TARGET = "scaling.workloads.training.bench:run_point"
TABLE = Table(
    "training",
    TRAINING,
    "scaling.collector.training:summarize",
    "scaling.collector.training:TRAINING_COLUMNS",
    tolerant=True,
)
POINT_KEYS = (
    PointKey("workload"),
    PointKey("preset", "rank"),
    PointKey("world_size", kind=int, scales=True),
    PointKey("nodes", "group", kind=int, scales=True),
    PointKey("scaling"),
    PointKey("precision", "rank"),
)
"""What tells training points apart: every step and train_point sample carries these, and
training.csv has one row per distinct combination (collector/training.py). The ranks' values
win over the point's: a rank resolves "auto" (preset, precision)."""
# How the step is parallelized and run: each key goes into the point spec and comes back in
# every rank's train_point record (samples.jsonl).
STEP_OPTIONS = (
    "strategy",
    "bucket_cap_mb",
    "gradient_as_bucket_view",
    "static_graph",
    "broadcast_buffers",
    "reshard_after_forward",
    "fsdp_reduce_dtype",
    "activation_checkpointing",
    "compile",
)


@dataclass
class TrainingConfig:
    """How a data-parallel training step is measured; shared by the training workloads (resnet50, transformer)."""

    scaling: str = setting("weak", choices=("weak", "strong"))
    """weak: fixed per-rank batch. strong: fixed global batch = batch x the largest world size, split among ranks."""

    precision: str = setting("auto", choices=("auto", *PRECISIONS))
    """Autocast precision (fp16 adds a GradScaler, GPU only). auto: bf16 on cuda, fp32 on cpu."""

    warmup: int | None = setting(None, minimum=0)
    """Untimed DDP steps before measuring. Unset: 2 on cpu, 10 on cuda."""

    steps: int | None = None
    """Measured steps per phase (DDP, no_sync, all-reduce alone, forward) in each round. Unset: 10 on cpu, 50 on cuda, spread over the rounds (--repeats), at least 3 per round."""

    strategy: str = setting(DDP.name, choices=strategy_names)
    """ddp: DistributedDataParallel. fsdp2: FSDP2 fully_shard on each block, then on the root. One rank trains the bare model either way."""

    bucket_cap_mb: float = 25.0
    """DDP gradient bucket size in MiB (DDP's bucket_cap_mb); the all-reduce-alone timing uses DDP's own buckets."""

    gradient_as_bucket_view: bool = False
    """DDP gradient_as_bucket_view: gradients are views into the buckets (no copy, less memory)."""

    static_graph: bool = False
    """DDP static_graph: the graph is the same every step, so DDP may skip some bookkeeping."""

    broadcast_buffers: bool = False
    """Sync buffers (BatchNorm statistics) from rank 0 before every forward, as DDP does by default."""

    reshard_after_forward: bool = True
    """FSDP2: free each block's gathered parameters after its forward (gather again in backward); the root keeps FSDP2's default."""

    fsdp_reduce_dtype: str = setting(FSDP2_REDUCE_DEFAULT, choices=tuple(FSDP2_REDUCE_DTYPES))
    """FSDP2: dtype of the gradient reduce-scatter. Parameters are gathered in the precision's dtype (bf16/fp16), else as stored."""

    activation_checkpointing: int = setting(0, minimum=0)
    """Recompute the activations of every Nth block in backward (torch.utils.checkpoint, non-reentrant); 0: none. For ddp and fsdp2 alike."""

    compile: bool = False
    """torch.compile each block (in the untimed first step). Meant for GPUs; on CPU it needs a C++ compiler, and a point without one fails with a one-line error."""


def training_workloads() -> tuple[str, ...]:
    """Registered workloads that train (share [training]) and whose model spec declares the
    memory facts tune needs (Model.memory): what tune can tune."""
    return tuple(
        w.name
        for w in WORKLOADS.values()
        if "training" in w.shared and getattr(w.model, "memory", None) is not None
    )


@dataclass
class TuneSection(TuneConfig):
    """`scaling tune`: what to search and within which limits."""

    # The [tune] section as the training workloads share it: config/tune.py declares it
    # below the workloads, so the choice of workload is bound here, where they are known.
    workload: str | None = setting(None, choices=training_workloads)
    """The training workload to tune (resnet50, transformer). Unset: the run config's only training workload."""


@dataclass(frozen=True)
class Model:
    """What a training workload adds to the shared step bench."""

    setup: str
    """Rank side, "module:function": (preset, spec, batch, global_batch, device, seed) ->
    bench.ModelSetup (model, optimizer factory, synthetic batch, FLOPs per sample)."""
    auto_preset: dict[str, str] = field(default_factory=dict)
    """The preset "auto" means on each device: {"cpu": "tiny", "cuda": ...}."""
    memory: Callable[[Any, str, str], tuple[ModelShape, OptimizerSpec]] | None = None
    """Driver, no torch at import: (its config section, resolved preset, device) -> the
    model's shape (shapes.py, counted, not built) and the optimizer `setup` builds. What
    `scaling tune`'s memory model needs; None: the workload runs but is not tunable."""


def point_spec(cfg, workload: str, n: int, **model) -> dict:
    """The spec of one training point: the [training] section plus the workload's own keys."""
    t = cfg.training
    return {
        "workload": workload,
        "world_size": n,
        "max_world_size": max(cfg.gpus),
        "scaling": t.scaling,
        "precision": t.precision,
        "warmup": t.warmup,
        "steps": t.steps,
        "rounds": cfg.repeats,
        **{k: getattr(t, k) for k in STEP_OPTIONS},
        "seed": 0,
        **model,
    }


def records(point: dict, group, results: list[dict]) -> list[dict]:
    """Per-step, per-rank "step" samples of every phase, then one "train_point" per rank."""
    first = results[0]
    key = record_key(POINT_KEYS, point, group, rank=first)
    out = []
    for rank, res in enumerate(results):
        for phase, times in res["times"].items():
            out.extend(
                {"type": "step", **key, "phase": phase, "step": i, "rank": rank, "time_s": t}
                for i, t in enumerate(times)
            )
    for rank, res in enumerate(results):
        facts = {k: v for k, v in res.items() if k != "times"}
        out.append({"type": "train_point", **key, **facts, "rank": rank})
    return out


def _plan_for(name: str) -> Callable:
    def plan(cfg, n: int) -> list[dict]:
        """One point per world size: [training] plus every key of the workload's section."""
        return [point_spec(cfg, name, n, **dataclasses.asdict(getattr(cfg, name)))]

    return plan


def _with_model(model: Model, presets: dict[str, dict]) -> Callable:
    def rank_spec(point: dict) -> dict:
        """The point plus the model and presets, so a workload registered in the driver
        (not one of BUILTIN) trains on any rank."""
        return {**point, "model": model, "presets": presets}

    return rank_spec


def workload(name: str, section: type, presets: dict[str, dict], model: Model) -> Workload:
    """A training workload's spec: one point per world size, measured by the step bench."""
    return Workload(
        name=name,
        plan=_plan_for(name),
        rank=TARGET,
        records=records,
        table=TABLE,
        section=section,
        shared={"training": TrainingConfig, "tune": TuneSection},
        presets=presets,
        model=model,
        rank_spec=_with_model(model, presets),
        point_keys=POINT_KEYS,
    )
