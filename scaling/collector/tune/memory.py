"""How many bytes one rank needs for a training step, and whether that fits.

The static terms are counted from the model's shape and optimizer, which the workload's model
spec supplies (workloads/training/shapes.py, optimizer.py): they are exact given how
PyTorch lays the tensors out. Activations are not modelled but measured: the peak memory of
a step at two small batches gives a slope per sample, extrapolated linearly. Whatever the
measured intercept holds beyond the modelled terms (the process itself on CPU, allocator
rounding, library workspaces) is carried as a measured "overhead" term.

    shape = resnet_shape((3, 4, 6, 3), bottleneck=True)
    fit = fit_activations(probe, shape, optimizer, precision, sharding)   # from two batches
    est = estimate(shape, OptimizerSpec("adamw", impl="fused"), "bf16",
                   Sharding("fsdp2", degree=8), batch=32, fit=fit)
    verdict = check_fit(est, capacity_bytes=parse_memory("80G"))  # from config/tune.py

Bytes per parameter, by precision (params / grads / each optimizer state):

- fp32, tf32: 4 / 4 / 4. tf32 changes the matmul units, not the storage.
- bf16, fp16 (autocast): 4 / 4 / 4, master weights stay fp32; autocast keeps a 2-byte copy
  of every conv/linear weight for backward.
- pure-bf16 (the model cast to bf16, no master weights): 2 / 2 / 2.

Optimizers keep param-sized states: SGD with momentum 1, AdamW 2 (exp_avg, exp_avg_sq).
Their step may add a temporary: foreach AdamW one param-sized tensor (sqrt(exp_avg_sq)),
foreach SGD with weight decay one (grad + wd * param); the for-loop implementations (the CPU
default) one tensor as large as the largest parameter; fused kernels none.

Sharding:

- single (one rank; this harness does not wrap one rank in DDP): params, grads, states.
- ddp: the same on every rank, plus DDP's gradient buckets, which hold every gradient
  once more (bucket_cap_mb changes how many buckets there are, not their total);
  gradient_as_bucket_view makes the .grad tensors views into the buckets, saving that copy.
- fsdp2 (`fully_shard` per block, MixedPrecisionPolicy(param_dtype, reduce_dtype)): params,
  grads and optimizer states divided by the shard degree. What FSDP2 keeps unsharded: the
  root unit's parameters from forward to backward (its reshard_after_forward is False by
  default), the block being computed and the one prefetched (all-gathered in param_dtype),
  every block when reshard_after_forward is False, and in backward one block's unsharded
  gradient plus its reduce-scatter input in reduce_dtype.

The step's peak is the larger of two moments: forward/backward (persistent state, gradients,
activations, autocast copies, FSDP's unsharded tensors) and the optimizer step (persistent
state, gradients, the optimizer's temporary). Gradients are counted whole beside the
activations: in backward the last layers' gradients (in a ResNet, most of the parameters)
appear while the first layers' activations (most of the activations) are still held.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from scaling.config.units import format_bytes
from scaling.strategies import SINGLE
from scaling.strategies import names as strategy_names
from scaling.workloads.training.optimizer import OptimizerSpec
from scaling.workloads.training.shapes import ModelShape

GIB = 1 << 30
MIB = 1 << 20
PRECISIONS = ("fp32", "tf32", "bf16", "fp16", "pure-bf16")
AUTOCAST = ("bf16", "fp16")
STRATEGIES = (SINGLE, *strategy_names())
DTYPE_BYTES = {"fp32": 4, "float32": 4, "bf16": 2, "bfloat16": 2, "fp16": 2, "float16": 2}
HEADROOM = 0.10
"""Share of the capacity a plan leaves free by default: on CUDA the context, NCCL's buffers
and the caching allocator's fragmentation are outside max_memory_allocated."""


@dataclass(frozen=True)
class Sharding:
    strategy: str = "ddp"
    """single | ddp | fsdp2."""
    degree: int = 1
    """Ranks: DDP replicas, or FSDP2's shard degree."""
    bucket_cap_mb: float = 25.0
    gradient_as_bucket_view: bool = False
    reshard_after_forward: bool = True
    param_dtype: str | None = None
    """FSDP2 MixedPrecisionPolicy param_dtype (bf16, fp16, fp32); None: the params' own."""
    reduce_dtype: str | None = "fp32"
    """FSDP2 MixedPrecisionPolicy reduce_dtype; None: param_dtype."""

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy {self.strategy!r} is not one of {', '.join(STRATEGIES)}")
        if self.degree < 1:
            raise ValueError(f"degree must be >= 1, got {self.degree}")


@dataclass(frozen=True)
class Term:
    name: str
    bytes: int
    why: str
    moment: str = "always"
    """always (persistent) | forward (forward/backward) | step (optimizer step) | measured."""


@dataclass
class ActivationFit:
    """Activations from the peaks of a step at two batches: peak(b) = intercept + slope * b."""

    batches: tuple[int, int]
    peaks: tuple[int, int]
    kind: str
    """What the peaks are: cuda (max_memory_allocated) | rss (the process's peak RSS)."""
    slope: float
    """Bytes per sample."""
    overhead: int
    """Measured intercept minus the modelled static bytes of the measured config."""
    key: dict = field(default_factory=dict)
    """What the activations depend on: precision, activation_checkpointing, compile."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class MemoryEstimate:
    terms: list[Term]
    peak_bytes: int
    basis: str
    """measured activations | static only: a lower bound (activations not measured)."""

    def term(self, name: str) -> int:
        return sum(t.bytes for t in self.terms if t.name == name)

    def to_dict(self) -> dict:
        return {
            "peak_bytes": self.peak_bytes,
            "basis": self.basis,
            "terms": [asdict(t) for t in self.terms],
        }


def precision_bytes(precision: str) -> tuple[int, int, int, int]:
    """(param, grad, optimizer state, autocast copy) bytes per parameter."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "pure-bf16":
        return 2, 2, 2, 0
    return 4, 4, 4, (2 if precision in AUTOCAST else 0)


def static_terms(
    shape: ModelShape, optimizer: OptimizerSpec, precision: str, sharding: Sharding
) -> list[Term]:
    """Every modelled term of a step on one rank, activations excluded."""
    pb, gb, sb, cast = precision_bytes(precision)
    fsdp = sharding.strategy == "fsdp2"
    shard = sharding.degree if fsdp else 1
    local = math.ceil(shape.params / shard)
    split = f" / {shard} ranks" if fsdp else ""
    terms = [
        Term("params", local * pb, f"{shape.params:,} params x {pb} B{split}"),
        Term(
            "optimizer states",
            local * sb * optimizer.states,
            f"{optimizer.name}: {optimizer.states} x {sb} B per param{split}",
        ),
        Term("buffers", shape.buffers * 4, "BatchNorm running statistics, fp32"),
    ]
    terms += _gradient_terms(shape, gb, local, sharding)
    if fsdp:
        terms += _fsdp_terms(shape, pb, sharding)
    if cast and not (fsdp and _fsdp_param_bytes(pb, sharding) == cast):
        terms.append(
            Term(
                "autocast copies",
                shape.autocast * cast,
                f"{precision} copy of {shape.autocast:,} conv/linear params, saved for backward",
                "forward",
            )
        )
    temp = optimizer.temporary_elements(local, math.ceil(shape.largest / shard))
    terms.append(
        Term(
            "optimizer temporaries",
            temp * sb,
            f"{optimizer.impl} {optimizer.name} step: {temp:,} elements",
            "step",
        )
    )
    return [t for t in terms if t.bytes or t.name in ("params", "grads")]


def _gradient_terms(shape: ModelShape, gb: int, local: int, s: Sharding) -> list[Term]:
    if s.strategy == "fsdp2":
        return [Term("grads", local * gb, f"sharded gradients, {gb} B / {s.degree} ranks")]
    grads = Term("grads", shape.params * gb, f"{shape.params:,} x {gb} B")
    if s.strategy == "single":
        return [grads]
    n_buckets = buckets(shape.params * gb, s.bucket_cap_mb)
    bucket = Term(
        "DDP buckets",
        shape.params * gb,
        f"every gradient once more, in ~{n_buckets} buckets of {s.bucket_cap_mb:g} MiB",
    )
    if s.gradient_as_bucket_view:
        return [
            Term("grads", 0, "gradient_as_bucket_view: .grad are views into the buckets"),
            bucket,
        ]
    return [grads, bucket]


def buckets(grad_bytes: int, cap_mb: float) -> int:
    """How many buckets DDP makes, roughly: the first holds 1 MiB, the others cap_mb each."""
    first = min(grad_bytes, MIB)
    return 1 + math.ceil(max(grad_bytes - first, 0) / (cap_mb * MIB))


def _fsdp_param_bytes(pb: int, s: Sharding) -> int:
    return DTYPE_BYTES[s.param_dtype] if s.param_dtype else pb


def _fsdp_terms(shape: ModelShape, pb: int, s: Sharding) -> list[Term]:
    ab = _fsdp_param_bytes(pb, s)
    rb = DTYPE_BYTES[s.reduce_dtype] if s.reduce_dtype else ab
    unit = max(shape.units, default=0)
    if s.reshard_after_forward:
        held = shape.root + min(2, len(shape.units)) * unit
        why = "root unit (kept for backward) + the block in use and the prefetched one"
    else:
        held = shape.params
        why = "reshard_after_forward=False: every block stays unsharded until backward"
    grad_unit = max(unit, shape.root)
    return [
        Term("FSDP2 unsharded params", held * ab, f"{why}, {ab} B each", "forward"),
        Term(
            "FSDP2 unsharded grads",
            grad_unit * (ab + rb),
            f"one unit's unsharded gradient ({ab} B) + its reduce-scatter input ({rb} B)",
            "forward",
        ),
    ]


def _peak(terms: list[Term]) -> int:
    """Persistent state (gradients included) plus the larger of the two moments."""
    always = sum(t.bytes for t in terms if t.moment in ("always", "measured"))
    forward = sum(t.bytes for t in terms if t.moment == "forward")
    step = sum(t.bytes for t in terms if t.moment == "step")
    return always + max(forward, step)


def static_peak(
    shape: ModelShape, optimizer: OptimizerSpec, precision: str, sharding: Sharding
) -> int:
    """The modelled peak with no activations at all."""
    return _peak(static_terms(shape, optimizer, precision, sharding))


def forward_static(
    shape: ModelShape, optimizer: OptimizerSpec, precision: str, sharding: Sharding
) -> int:
    """Persistent state plus the forward/backward moment's terms, activations excluded: what
    a measured peak holds besides the activations once they dominate (the fit's baseline)."""
    terms = static_terms(shape, optimizer, precision, sharding)
    return sum(t.bytes for t in terms if t.moment in ("always", "forward"))


def fit_activations(
    batches: tuple[int, int],
    peaks: tuple[int, int],
    kind: str,
    modelled_static: int,
    key: dict | None = None,
) -> ActivationFit:
    """Fit peak = intercept + slope * batch through two measured peaks.

    modelled_static is forward_static() of the config the peaks were measured at; the fit
    keeps intercept - modelled_static as the measured overhead, so it carries to other
    configs. Both batches must be large enough that activations set the peak (not the
    optimizer step, nor a stage outside the step): then peak(b) = intercept + slope * b.
    """
    (b1, b2), (p1, p2) = batches, peaks
    if b1 == b2:
        raise ValueError(f"two different batches are needed, got {b1} twice")
    if b2 < b1:
        (b1, b2), (p1, p2) = (b2, b1), (p2, p1)
    slope = (p2 - p1) / (b2 - b1)
    if slope <= 0:
        raise ValueError(
            f"peak memory did not grow with the batch ({p1:,} B at {b1}, {p2:,} B at {b2}): "
            "something other than the step's activations set both peaks"
        )
    intercept = p1 - slope * b1
    return ActivationFit(
        (b1, b2), (p1, p2), kind, slope, round(intercept - modelled_static), dict(key or {})
    )


def estimate(
    shape: ModelShape,
    optimizer: OptimizerSpec,
    precision: str,
    sharding: Sharding,
    batch: int,
    fit: ActivationFit | None = None,
) -> MemoryEstimate:
    """The peak bytes of one rank's step at this per-rank batch."""
    terms = static_terms(shape, optimizer, precision, sharding)
    if fit is None:
        peak = _peak(terms)
        return MemoryEstimate(terms, peak, "static only: a lower bound (activations not measured)")
    act = round(fit.slope * batch)
    lo, hi = fit.batches
    terms.append(
        Term(
            "activations",
            act,
            f"{fit.slope / MIB:.3g} MiB per sample x {batch}, measured at batches {lo} and {hi}",
            "forward",
        )
    )
    terms.append(
        Term(
            "overhead",
            fit.overhead,
            f"measured intercept beyond the model ({fit.kind})",
            "measured",
        )
    )
    return MemoryEstimate(terms, _peak(terms), "measured activations")


@dataclass(frozen=True)
class Fit:
    fits: bool
    reason: str
    need_bytes: int
    usable_bytes: int


def check_fit(est: MemoryEstimate, capacity_bytes: int, headroom: float = HEADROOM) -> Fit:
    """Does the estimate fit the capacity, leaving `headroom` of it free?"""
    usable = int(capacity_bytes * (1.0 - headroom))
    need = est.peak_bytes
    where = f"{format_bytes(usable, 2)} usable ({1 - headroom:.0%} of {format_bytes(capacity_bytes, 2)})"
    lower = " at least" if est.basis.startswith("static") else ""
    if need > usable:
        big = sorted(est.terms, key=lambda t: -t.bytes)[:3]
        parts = ", ".join(f"{t.name} {format_bytes(t.bytes, 2)}" for t in big)
        return Fit(False, f"needs{lower} {format_bytes(need, 2)} > {where} ({parts})", need, usable)
    return Fit(True, f"needs{lower} {format_bytes(need, 2)} of {where}", need, usable)


def largest_batch(
    shape: ModelShape,
    optimizer: OptimizerSpec,
    precision: str,
    sharding: Sharding,
    fit: ActivationFit,
    capacity_bytes: int,
    headroom: float = HEADROOM,
) -> int:
    """The largest per-rank batch whose estimate fits (0 when not even one sample does)."""
    usable = capacity_bytes * (1.0 - headroom)
    base = estimate(shape, optimizer, precision, sharding, 0, fit).peak_bytes
    if base > usable:
        return 0
    b = int((usable - base) // fit.slope)
    # The step moment can hide the first samples' activations: walk down to a batch that fits.
    while b > 0 and estimate(shape, optimizer, precision, sharding, b, fit).peak_bytes > usable:
        b -= 1
    return b
