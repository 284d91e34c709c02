"""FSDP2 (`torch.distributed.fsdp.fully_shard`) as a step-bench strategy (rank side).

Each of the model's blocks (blocks.py) is one FSDP2 unit, with the point's
reshard_after_forward; the root takes the rest (embeddings, head, stem) with FSDP2's own
default, under which the root keeps its parameters gathered from forward to backward.
Parameters are all-gathered in the compute dtype (bf16/fp16 under those precisions, else
as stored) and gradients reduce-scattered in fsdp_reduce_dtype.

The three measurements of docs/formulas.md, for FSDP2:

- the step (t_ddp): the real sharded step;
- t_local: the step with every collective removed. FSDP2 cannot skip the parameter
  all-gathers the way DDP skips its all-reduce, so the local steps run with gradient sync,
  resharding after forward and after backward all off: after the first (untimed) local
  step the parameters stay gathered and a step has no collective at all. Their gradients
  never reach the shards, so the local step has no optimizer update (the real step's
  update is over 1/n of the parameters);
- t_comm: a step's collectives alone, unit by unit at the sizes FSDP2 moves (each
  parameter's dim 0 padded to a multiple of the world size): the forward all-gathers
  (root, then the blocks), the blocks' backward all-gathers again where they reshard after
  forward, then the reduce-scatters in backward order.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

from scaling.strategies import FSDP2_PARAM_DTYPES, FSDP2_REDUCE_DEFAULT, FSDP2_REDUCE_DTYPES
from scaling.workloads.training.blocks import prepare

# The registry's dtype names as torch dtypes (scaling/strategies.py holds the options).
PARAM_DTYPES = {p: getattr(torch, d) for p, d in FSDP2_PARAM_DTYPES.items()}
REDUCE_DTYPES = {d: getattr(torch, d) for d in FSDP2_REDUCE_DTYPES}


# torch 2.13 deprecates the *_into_tensor / *_tensor names for these.
_ALL_GATHER = getattr(dist, "all_gather_single", dist.all_gather_into_tensor)
_REDUCE_SCATTER = getattr(dist, "reduce_scatter_single", dist.reduce_scatter_tensor)


def _make_contiguous(model: nn.Module) -> int:
    """FSDP2 shards only contiguous parameters: a channels_last ResNet's convolution weights
    go back to the default layout (its activations stay channels_last, following the
    input). Returns how many parameters changed, recorded in the point's facts."""
    changed = 0
    for p in model.parameters():
        if not p.is_contiguous():
            p.data = p.data.contiguous()
            changed += 1
    return changed


class FSDP2Strategy:
    """fully_shard on each block, then on the root; the bare model at one rank."""

    name = "fsdp2"
    probe_synced = True  # a zero-loss synced probe: a local step would gather everything

    def __init__(self, spec: dict, device: str, n: int, precision: str):
        self.spec, self.device, self.n, self.precision = spec, device, n, precision
        self.net: nn.Module | None = None
        self.prepared: dict = {}
        self.units: list[tuple[int, bool]] = []  # (padded elements per rank, reshards)
        self.param_dtype = PARAM_DTYPES.get(precision)
        self.reduce_dtype = REDUCE_DTYPES[spec.get("fsdp_reduce_dtype") or FSDP2_REDUCE_DEFAULT]

    def wrap(self, model: nn.Module) -> nn.Module:
        blocks, self.prepared = prepare(model, self.spec, self.device)
        self.net = model
        if self.n == 1:
            return model
        reshard = bool(self.spec.get("reshard_after_forward", True))
        mp = MixedPrecisionPolicy(param_dtype=self.param_dtype, reduce_dtype=self.reduce_dtype)
        self.prepared["contiguous_params"] = _make_contiguous(model)
        # Sizes first: fully_shard replaces a unit's parameters by new ones (its shards).
        in_blocks = {id(p) for block in blocks for p in block.parameters()}
        rest = [p for p in model.parameters() if id(p) not in in_blocks]
        self.units = [(self._per_rank(rest), False)]  # the root: gathered until backward
        self.units += [(self._per_rank(list(b.parameters())), reshard) for b in blocks]
        for block in blocks:
            fully_shard(block, reshard_after_forward=reshard, mp_policy=mp)
        fully_shard(model, mp_policy=mp)
        return model

    def _per_rank(self, params: list[torch.Tensor]) -> int:
        """Elements of one rank's padded shards: dim 0 rounded up to a multiple of n."""
        total = 0
        for p in params:
            rows = p.shape[0] if p.dim() else 1
            total += math.ceil(rows / self.n) * (p.numel() // max(rows, 1))
        return total

    def facts(self) -> dict:
        return {"ddp": False, "sharded": self.n > 1, **self.prepared}

    @contextlib.contextmanager
    def no_sync(self):
        """No collective at all once the parameters are gathered (see the module docstring)."""
        if self.n == 1:
            yield
            return
        self._set_local(True)
        try:
            yield
        finally:
            self._set_local(False)

    def alone(self):
        """The compute stage's forward: gathered parameters, no collectives."""
        return self.no_sync()

    def _set_local(self, local: bool) -> None:
        root = self.net
        root.set_requires_gradient_sync(not local)
        root.set_reshard_after_backward(not local)
        if local:
            root.set_reshard_after_forward(False)
            return
        for module in root.modules():  # back to the blocks' setting; the root never reshards
            if module is not root and hasattr(module, "set_reshard_after_forward"):
                module.set_reshard_after_forward(
                    bool(self.spec.get("reshard_after_forward", True)), recurse=False
                )

    def comm(self) -> tuple[Callable[[], None], dict]:
        """A step's all-gathers and reduce-scatters alone, at FSDP2's per-unit sizes."""
        ag_dtype = self.param_dtype or next(self.net.parameters()).dtype
        plan = [("all_gather", size) for size, _ in self.units]
        plan += [("all_gather", size) for size, reshards in reversed(self.units) if reshards]
        plan += [("reduce_scatter", size) for size, _ in reversed(self.units)]
        # One buffer pair per kind, as big as the largest unit, sliced for each collective:
        # the timing needs the sizes, not a full model's worth of extra memory.
        largest = max(size for size, _ in self.units)
        dev = (
            self.device
            if self.device == "cpu"
            else torch.device("cuda", torch.cuda.current_device())
        )
        ag_in = torch.zeros(largest, dtype=ag_dtype, device=dev)
        ag_out = torch.zeros(largest * self.n, dtype=ag_dtype, device=dev)
        rs_in = torch.zeros(largest * self.n, dtype=self.reduce_dtype, device=dev)
        rs_out = torch.zeros(largest, dtype=self.reduce_dtype, device=dev)

        def launch(op: str, size: int):
            if op == "all_gather":
                return _ALL_GATHER(ag_out[: size * self.n], ag_in[:size], async_op=True)
            return _REDUCE_SCATTER(rs_out[:size], rs_in[: size * self.n], async_op=True)

        def step_collectives() -> None:
            works = [launch(op, size) for op, size in plan]  # back to back, as on one stream
            for w in works:
                w.wait()

        facts = {
            "all_gather_bytes": [
                s * self.n * ag_in.element_size() for op, s in plan if op == "all_gather"
            ],
            "reduce_scatter_bytes": [
                s * self.n * rs_in.element_size() for op, s in plan if op == "reduce_scatter"
            ],
        }
        return step_collectives, facts

    def full_params(self) -> Iterator[torch.Tensor]:
        """Whole parameters: each sharded one gathered (full_tensor is a collective, so every
        rank must iterate all of them). They agree by construction, one copy being sharded;
        the checksum still shows that every rank ends with the same model."""
        for p in self.net.parameters():
            yield p.full_tensor() if hasattr(p, "full_tensor") else p

    def release(self) -> None:
        self.net = None
