"""The parallel strategies of the training step: one record each, torch-free.

Every list of strategy names the tool accepts or shows ([training] strategy and --strategy,
[tune] strategies, the memory model's, the step bench's) reads this registry; none is typed
again. A record says what the strategy is called, the rank-side class that applies it
("module:Class", imported on the rank, where torch is), and the [training] keys only it reads
(the options `scaling tune` searches for it). One rank trains the bare model whatever the
strategy: that case is SINGLE, not a strategy of its own.

    from scaling.strategies import STRATEGIES
    STRATEGIES.names()                 # ("ddp", "fsdp2")
    STRATEGIES.get("fsdp2").options    # ("reshard_after_forward", "fsdp_reduce_dtype")
    FSDP2_REDUCE_DTYPES                # {"float32": "fp32", "bfloat16": "bf16"}

FSDP2's precision options sit here too, beside its record: the values fsdp_reduce_dtype
accepts ([training] and [tune]) and the dtypes MixedPrecisionPolicy gets, which the rank's
FSDP2 wrapper and tune's memory model both read.
"""

from __future__ import annotations

from dataclasses import dataclass

from scaling.registry import Registry

SINGLE = "single"
"""One rank: the bare model, no DDP or FSDP2 (the memory model's and tune's name for it)."""


@dataclass(frozen=True)
class Strategy:
    name: str
    """The name in --strategy, `[training] strategy`, `[tune] strategies` and a point's spec."""
    rank: str
    """The class that wraps the model on a rank, as "module:Class" (it imports torch)."""
    options: tuple[str, ...]
    """The [training] keys only this strategy reads and `scaling tune` searches for it."""


STRATEGIES: Registry[Strategy] = Registry("strategy")
DDP = STRATEGIES.register(
    Strategy(
        "ddp",
        "scaling.workloads.training.strategy:DDPStrategy",
        options=("bucket_cap_mb", "gradient_as_bucket_view", "static_graph"),
    )
)
FSDP2 = STRATEGIES.register(
    Strategy(
        "fsdp2",
        "scaling.workloads.training.fsdp2:FSDP2Strategy",
        options=("reshard_after_forward", "fsdp_reduce_dtype"),
    )
)
FSDP2_REDUCE_DTYPES = {"float32": "fp32", "bfloat16": "bf16"}
"""fsdp_reduce_dtype's values (torch dtype names: MixedPrecisionPolicy reduce_dtype, the dtype
of the gradient reduce-scatter), each with its precision name in tune's memory model."""
FSDP2_REDUCE_DEFAULT = "float32"
FSDP2_PARAM_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}
"""The training precisions whose dtype FSDP2 gathers parameters in (MixedPrecisionPolicy
param_dtype, a torch dtype name); under any other precision they are gathered as stored."""


def names() -> tuple[str, ...]:
    """The registered strategies' names, in registration order (a `choices` callable)."""
    return STRATEGIES.names()
