"""How the step bench parallelizes a model across ranks (rank side): DDP today.

A strategy wraps the model for the real step, offers the same step without gradient sync
(t_local), and the gradient communication alone (t_comm), as docs/formulas.md defines them.
A point names its strategy (spec["strategy"], default "ddp"); a new one (FSDP) is a class
with the same methods added to STRATEGIES.
"""

from __future__ import annotations

import contextlib
import inspect

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP


class DDPStrategy:
    """PyTorch DistributedDataParallel. One rank trains the bare model: there is nothing to
    reduce, and a one-rank DDP would add its gradient copies to every step."""

    name = "ddp"

    def __init__(self, spec: dict, device: str, n: int):
        self.spec, self.device, self.n = spec, device, n
        self.net: nn.Module | None = None

    def wrap(self, model: nn.Module) -> nn.Module:
        spec = self.spec
        self.net = model
        if self.n > 1:
            self.net = DDP(
                model,
                device_ids=[torch.cuda.current_device()] if self.device == "cuda" else None,
                bucket_cap_mb=spec["bucket_cap_mb"],
                gradient_as_bucket_view=spec["gradient_as_bucket_view"],
                static_graph=spec["static_graph"],
                **_buffer_sync(spec["broadcast_buffers"]),
            )
        return self.net

    def facts(self) -> dict:
        return {"ddp": self.n > 1}

    def no_sync(self):
        """The step without gradient sync (DDP decides at forward time: cover the forward)."""
        return self.net.no_sync() if isinstance(self.net, DDP) else contextlib.nullcontext()

    def grad_buffers(self) -> list[torch.Tensor]:
        """What the real step all-reduces, as tensors to all-reduce alone."""
        return grad_buckets(self.net)

    def release(self) -> None:
        self.net = None


STRATEGIES = {"ddp": DDPStrategy}


def make(spec: dict, device: str, n: int):
    name = spec.get("strategy", "ddp")
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)})")
    return STRATEGIES[name](spec, device, n)


def _buffer_sync(enabled: bool) -> dict:
    # torch 2.13 renamed broadcast_buffers to forward_sync_buffers (and warns on the old name).
    # The new one still syncs buffers once at construction, which is harmless here: every
    # rank builds the same model from the same seed.
    if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters:
        return {"forward_sync_buffers": enabled}
    return {"broadcast_buffers": enabled}


def grad_buckets(ddp: DDP) -> list[torch.Tensor]:
    """Zero tensors shaped like DDP's gradient buckets, in the order its reducer runs them.

    The reducer's own buckets (after its rebuild in the first synced steps) are the exact
    sizes the real step all-reduces; without that private API, buckets are rebuilt the way
    DDP first lays them out: reverse parameter order, bucket_cap_mb each.
    """
    try:
        return [b.buffer() for b in ddp.reducer._get_zeros_like_grad_buckets()]
    except (AttributeError, RuntimeError):
        return buckets_by_cap(list(ddp.module.parameters()), int(ddp.bucket_bytes_cap))


def buckets_by_cap(params: list[torch.Tensor], cap_bytes: int) -> list[torch.Tensor]:
    """Flat zero buckets of the parameters in reverse order, closed when they reach cap_bytes."""
    buckets, sizes, dtype, device, filled = [], [], None, None, 0
    for p in reversed([p for p in params if p.requires_grad]):
        if sizes and (filled >= cap_bytes or p.dtype != dtype):
            buckets.append(torch.zeros(sum(sizes), dtype=dtype, device=device))
            sizes, filled = [], 0
        sizes.append(p.numel())
        filled += p.numel() * p.element_size()
        dtype, device = p.dtype, p.device
    if sizes:
        buckets.append(torch.zeros(sum(sizes), dtype=dtype, device=device))
    return buckets
