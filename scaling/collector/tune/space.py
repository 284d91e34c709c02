"""The candidates a tune tries: the [tune] section's dimensions, enumerated, then pruned.

    space = enumerate_space(tune_cfg, SpaceContext(device="cuda", world_size=8, base=...,
                            memory=MemoryContext(shape, optimizer, capacity, fits)))
    space.candidates   # feasible, the base config first, then by how much they change
    space.pruned       # [(candidate, reason)], each reason one line

A dimension that is off keeps the base config's value. Options that do not apply are not
multiplied in (bucket sizes for FSDP2, reshard_after_forward for DDP): one candidate per
real configuration. What is pruned, and why:

- device: tf32 and fp16 on CPU, torch.compile on CPU, NCCL variables on gloo;
- inapplicable: DDP or FSDP2 options at one rank (this harness trains one rank without
  either), checkpointing every N blocks for a model with fewer blocks;
- memory: the memory model's estimate exceeds the capacity (see memory.py), the terms that
  weigh most named in the reason.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field

from scaling.collector.tune.memory import (
    ActivationFit,
    MemoryEstimate,
    Sharding,
    check_fit,
    estimate,
)
from scaling.collector.tune.nccl_env import NcclCandidate, nccl_candidates
from scaling.config.tune import DEVICE_PRECISIONS, TuneConfig
from scaling.strategies import (
    FSDP2_PARAM_DTYPES,
    FSDP2_REDUCE_DEFAULT,
    FSDP2_REDUCE_DTYPES,
    SINGLE,
    STRATEGIES,
)
from scaling.workloads.training.optimizer import OptimizerSpec
from scaling.workloads.training.shapes import ModelShape

GPU_ONLY_PRECISIONS = ("tf32", "fp16")


@dataclass(frozen=True)
class Candidate:
    """One configuration of the training step. None: the option does not apply."""

    batch: int
    precision: str
    strategy: str = "ddp"
    """single (one rank) | ddp | fsdp2."""
    bucket_cap_mb: float | None = None
    gradient_as_bucket_view: bool | None = None
    static_graph: bool | None = None
    reshard_after_forward: bool | None = None
    fsdp_reduce_dtype: str | None = None
    activation_checkpointing: int = 0
    compile: bool = False
    nccl_env: tuple[tuple[str, str], ...] = ()

    @property
    def id(self) -> str:
        """Short and stable: names the candidate in tune.json, tables and progress lines."""
        parts = [f"b{self.batch}", self.precision, self.strategy]
        if self.strategy == "ddp":
            parts += [
                f"bk{self.bucket_cap_mb:g}",
                "gv" if self.gradient_as_bucket_view else "",
                "sg" if self.static_graph else "",
            ]
        if self.strategy == "fsdp2":
            parts += [
                "rs" if self.reshard_after_forward else "keep",
                ""
                if self.fsdp_reduce_dtype in (None, FSDP2_REDUCE_DEFAULT)
                else f"rd-{self.fsdp_reduce_dtype}",
            ]
        parts += [f"ac{self.activation_checkpointing}" if self.activation_checkpointing else ""]
        parts += ["compile" if self.compile else ""]
        parts += [NcclCandidate(self.nccl_env).id] if self.nccl_env else []
        return "-".join(p for p in parts if p)

    def settings(self) -> dict:
        """The candidate's options; those that do not apply are left out."""
        d = asdict(self)
        d["nccl_env"] = dict(self.nccl_env)
        return {k: v for k, v in d.items() if v is not None and v != {}}

    def activation_key(self) -> tuple:
        """What the activations' size depends on (measure once per key)."""
        return (self.precision, self.activation_checkpointing, self.compile)


@dataclass
class MemoryContext:
    shape: ModelShape
    optimizer: OptimizerSpec
    capacity_bytes: int
    capacity_source: str
    """e.g. "--target-memory 80G", "NVIDIA H100 80GB HBM3 (NVML)",
    "available host memory of ci-host / 2 ranks"."""
    headroom: float = 0.10
    fits: dict[tuple, ActivationFit] = field(default_factory=dict)
    """Measured activations by Candidate.activation_key()."""


@dataclass
class SpaceContext:
    device: str
    """cpu | cuda."""
    world_size: int
    base: Candidate
    """The run config's own settings: the value of every dimension that is off."""
    memory: MemoryContext | None = None
    """None: nothing is pruned on memory (and tune.json says so)."""


@dataclass
class Space:
    candidates: list[Candidate]
    pruned: list[tuple[Candidate, str]]
    estimates: dict[str, MemoryEstimate]
    """By candidate id, for the feasible ones (when there is a memory context)."""
    memory_note: str


def enumerate_space(cfg: TuneConfig, ctx: SpaceContext) -> Space:
    """Every candidate of the searched dimensions, the base config first, pruned with reasons."""
    raw = _product(cfg, ctx)
    kept: list[Candidate] = []
    pruned: list[tuple[Candidate, str]] = []
    estimates: dict[str, MemoryEstimate] = {}
    for c in raw:
        reason = _rule_out(c, ctx)
        if reason is None and ctx.memory is not None:
            est, reason = _memory_verdict(c, ctx)
            estimates[c.id] = est
        if reason:
            pruned.append((c, reason))
        else:
            kept.append(c)
    kept.sort(key=lambda c: departures(c, ctx.base))  # stable: enumeration order within
    note = (
        f"pruned against {ctx.memory.capacity_source}"
        if ctx.memory
        else "no memory model: nothing pruned on memory"
    )
    return Space(kept, pruned, {c.id: estimates[c.id] for c in kept if c.id in estimates}, note)


def departures(c: Candidate, base: Candidate) -> int:
    """How many options differ from the base config: fewer is preferred among ties."""
    a, b = c.settings(), base.settings()
    return sum(1 for k in set(a) | set(b) if a.get(k) != b.get(k))


def _values(cfg: TuneConfig, ctx: SpaceContext) -> dict[str, list]:
    on = set(cfg.dimensions)
    base = ctx.base

    def pick(dim: str, values: list, fixed) -> list:
        return list(values) if dim in on else [fixed]

    precisions = [
        p for q in cfg.precisions for p in (DEVICE_PRECISIONS[ctx.device] if q == "auto" else [q])
    ]
    batches = cfg.batches or [base.batch * 2**k for k in range(cfg.batch_doublings + 1)]
    nccl = nccl_candidates(cfg.nccl_algo, cfg.nccl_proto, cfg.nccl_channels, cfg.nccl_buffsize)
    return {
        "batch": pick("batch", batches, base.batch),
        "precision": pick("precision", list(dict.fromkeys(precisions)), base.precision),
        "strategy": pick("strategy", cfg.strategies, base.strategy),
        "bucket_cap_mb": pick("bucket_cap_mb", cfg.bucket_cap_mb, base.bucket_cap_mb or 25.0),
        "gradient_as_bucket_view": pick(
            "gradient_as_bucket_view",
            cfg.gradient_as_bucket_view,
            bool(base.gradient_as_bucket_view),
        ),
        "static_graph": pick("static_graph", cfg.static_graph, bool(base.static_graph)),
        "reshard_after_forward": pick(
            "reshard_after_forward",
            cfg.reshard_after_forward,
            True if base.reshard_after_forward is None else base.reshard_after_forward,
        ),
        "fsdp_reduce_dtype": pick(
            "fsdp_reduce_dtype",
            cfg.fsdp_reduce_dtype,
            base.fsdp_reduce_dtype or FSDP2_REDUCE_DEFAULT,
        ),
        "activation_checkpointing": pick(
            "activation_checkpointing", cfg.activation_checkpointing, base.activation_checkpointing
        ),
        "compile": pick("compile", cfg.compile, base.compile),
        "nccl_env": pick("nccl", [c.env for c in nccl], base.nccl_env),
    }


def _product(cfg: TuneConfig, ctx: SpaceContext) -> list[Candidate]:
    """One candidate per real configuration: options of the other strategy are not multiplied."""
    v = _values(cfg, ctx)
    common = itertools.product(
        v["batch"], v["precision"], v["activation_checkpointing"], v["compile"], v["nccl_env"]
    )
    out: dict[str, Candidate] = {}
    for batch, precision, ckpt, comp, env in common:
        head = dict(
            batch=batch,
            precision=precision,
            activation_checkpointing=ckpt,
            compile=comp,
            nccl_env=env,
        )
        for strategy in v["strategy"]:
            for c in _strategy_variants(strategy, head, v, ctx.world_size):
                out.setdefault(c.id, c)
    return list(out.values())


def _strategy_variants(strategy: str, head: dict, v: dict, world: int) -> list[Candidate]:
    if world == 1:
        # One rank trains without DDP or FSDP2 (workloads/training/strategy.py): their options would
        # only relabel the same run, so they collapse into one "single" candidate.
        return [Candidate(**head, strategy=SINGLE)]
    options = STRATEGIES.get(strategy).options  # each option's values, in the registry's order
    return [
        Candidate(**head, strategy=strategy, **dict(zip(options, values, strict=True)))
        for values in itertools.product(*(v[o] for o in options))
    ]


def _rule_out(c: Candidate, ctx: SpaceContext) -> str | None:
    """Why a candidate cannot run on this device or model at all; None when it can."""
    if ctx.device == "cpu":
        if c.precision in GPU_ONLY_PRECISIONS:
            return f"device: {c.precision} is a GPU precision (CPU: fp32, bf16)"
        if c.compile:
            return "device: torch.compile is tuned on GPU only"
        if c.nccl_env:
            return "device: NCCL variables have no effect on gloo (CPU)"
    if c.nccl_env and ctx.world_size == 1:
        return "inapplicable: one rank runs no collective"
    m = ctx.memory
    if c.activation_checkpointing and m is not None and c.activation_checkpointing > m.shape.blocks:
        return (
            f"inapplicable: checkpointing every {c.activation_checkpointing} blocks, "
            f"but {m.shape.name} has {m.shape.blocks}"
        )
    return None


def sharding_of(c: Candidate, world_size: int) -> Sharding:
    """The memory model's view of a candidate's strategy."""
    if c.strategy == "fsdp2":
        param_dtype = c.precision if c.precision in FSDP2_PARAM_DTYPES else None
        reduce = FSDP2_REDUCE_DTYPES.get(c.fsdp_reduce_dtype or FSDP2_REDUCE_DEFAULT)
        return Sharding(
            "fsdp2",
            world_size,
            reshard_after_forward=bool(c.reshard_after_forward),
            param_dtype=param_dtype,
            reduce_dtype=reduce,
        )
    if c.strategy == "single" or world_size == 1:
        return Sharding("single", 1)
    return Sharding(
        "ddp",
        world_size,
        bucket_cap_mb=c.bucket_cap_mb or 25.0,
        gradient_as_bucket_view=bool(c.gradient_as_bucket_view),
    )


def memory_precision(precision: str) -> str:
    """tf32 stores fp32; autocast precisions keep fp32 master weights (memory.py)."""
    return "fp32" if precision == "tf32" else precision


def _memory_verdict(c: Candidate, ctx: SpaceContext) -> tuple[MemoryEstimate, str | None]:
    m = ctx.memory
    fit = m.fits.get(c.activation_key())
    est = estimate(
        m.shape,
        m.optimizer,
        memory_precision(c.precision),
        sharding_of(c, ctx.world_size),
        c.batch,
        fit,
    )
    verdict = check_fit(est, m.capacity_bytes, m.headroom)
    return est, None if verdict.fits else f"memory: {verdict.reason}"


def base_candidate(
    batch: int,
    precision: str,
    world_size: int,
    bucket_cap_mb: float = 25.0,
    gradient_as_bucket_view: bool = False,
    static_graph: bool = False,
) -> Candidate:
    """A DDP (or one-rank) candidate from plain settings; scaling/tune/driver.py builds the
    base candidate of a run config, FSDP2 included."""
    if world_size == 1:
        return Candidate(batch=batch, precision=precision, strategy="single")
    return Candidate(
        batch=batch,
        precision=precision,
        strategy="ddp",
        bucket_cap_mb=bucket_cap_mb,
        gradient_as_bucket_view=gradient_as_bucket_view,
        static_graph=static_graph,
    )
