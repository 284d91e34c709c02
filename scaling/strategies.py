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


def names() -> tuple[str, ...]:
    """The registered strategies' names, in registration order (a `choices` callable)."""
    return STRATEGIES.names()
