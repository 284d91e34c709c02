"""How the step bench parallelizes a model across ranks (rank side): DDP or FSDP2.

A strategy wraps the model for the real step, offers the same step without gradient sync
(t_local), and the step's communication alone (t_comm), as docs/formulas.md defines them.
A point names its strategy (spec["strategy"], default "ddp"); the registry in
scaling/strategies.py lists them and names each one's class (DDP here, FSDP2 in fsdp2.py).
Before wrapping, every strategy applies the point's activation checkpointing and
torch.compile to the model's repeated blocks (blocks.prepare).

One rank trains the bare model, whatever the strategy: there is nothing to reduce or shard,
and a one-rank DDP would add its gradient copies to every step.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from scaling.strategies import STRATEGIES
from scaling.workloads.catalog import resolve
from scaling.workloads.training.blocks import prepare


class DDPStrategy:
    """PyTorch DistributedDataParallel; the bare model at one rank."""

    name = "ddp"

    def __init__(self, spec: dict, device: str, n: int, precision: str):
        self.spec, self.device, self.n, self.precision = spec, device, n, precision
        self.net: nn.Module | None = None
        self.prepared: dict = {}
        # A static graph's first step must be a synced one (DDP records it).
        self.probe_synced = bool(spec.get("static_graph")) and n > 1

    def wrap(self, model: nn.Module) -> nn.Module:
        spec = self.spec
        _, self.prepared = prepare(model, spec, self.device)
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
        return {"ddp": self.n > 1, **self.prepared}

    def no_sync(self):
        """The step without gradient sync (DDP decides at forward time: cover the forward)."""
        return self.net.no_sync() if isinstance(self.net, DDP) else contextlib.nullcontext()

    def alone(self):
        """Where the bare module's forward runs without collectives (the compute stage)."""
        return contextlib.nullcontext()

    def comm(self) -> tuple[Callable[[], None], dict]:
        """The step's communication as a callable to time alone, and its facts: DDP's
        gradient all-reduces in its own buckets, launched back to back and waited for
        together, as DDP's reducer does."""
        buffers = grad_buckets(self.net)

        def all_reduce_buffers() -> None:
            works = [dist.all_reduce(b, async_op=True) for b in buffers]
            for w in works:
                w.wait()

        return all_reduce_buffers, {"bucket_bytes": [b.numel() * b.element_size() for b in buffers]}

    def full_params(self) -> Iterator[torch.Tensor]:
        """This rank's parameters, whole (the checksum's input)."""
        return self.net.parameters() if self.net is not None else iter(())

    def release(self) -> None:
        self.net = None


def make(spec: dict, device: str, n: int, precision: str):
    """The point's strategy (spec["strategy"], default "ddp"), from the registry."""
    record = STRATEGIES.get(spec.get("strategy", "ddp"))  # UnknownName lists the known ones
    return resolve(record.rank)(spec, device, n, precision)


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
