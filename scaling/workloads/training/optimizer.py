"""The optimizer a training workload steps with, as the memory model counts it (no torch).

A workload's model spec says which optimizer its `setup` builds (workloads/resnet50.py: SGD
with momentum and weight decay; transformer.py: AdamW, fused on CUDA); the tune memory model
(collector/tune/memory.py) counts its param-sized states and the temporary its step allocates.

    OptimizerSpec("adamw", impl=default_impl("cuda", fused=True)).states   # 2
"""

from __future__ import annotations

from dataclasses import dataclass

OPTIMIZERS = {"sgd": 1, "adamw": 2}
"""Param-sized optimizer states (SGD: the momentum buffer; AdamW: exp_avg, exp_avg_sq)."""
IMPLS = ("fused", "foreach", "for-loop")


@dataclass(frozen=True)
class OptimizerSpec:
    name: str = "adamw"
    """sgd | adamw."""
    impl: str = "foreach"
    """fused | foreach | for-loop (what torch.optim runs: see default_impl)."""
    momentum: bool = True
    """SGD only: without momentum SGD keeps no state."""
    weight_decay: bool = True

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.name!r} is not one of {', '.join(OPTIMIZERS)}")
        if self.impl not in IMPLS:
            raise ValueError(f"optimizer impl {self.impl!r} is not one of {', '.join(IMPLS)}")

    @property
    def states(self) -> int:
        if self.name == "sgd" and not self.momentum:
            return 0
        return OPTIMIZERS[self.name]

    def temporary_elements(self, local_params: int, largest: int) -> int:
        """Elements of the temporary the step allocates (collector/tune/memory.py says which)."""
        if self.impl == "fused":
            return 0
        if self.impl == "for-loop":
            return largest
        if self.name == "adamw" or self.weight_decay:
            return local_params
        return 0


def default_impl(device: str, fused: bool = False) -> str:
    """What torch.optim runs when not told: fused when asked, foreach on CUDA, else a loop."""
    if fused:
        return "fused"
    return "foreach" if device == "cuda" else "for-loop"
