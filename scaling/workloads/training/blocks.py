"""A model's repeated blocks, and what the step bench does to them (rank side).

The blocks are the units FSDP2 shards one by one and activation checkpointing recomputes:
the transformer's decoder blocks and ResNet's residual blocks (every BasicBlock and
Bottleneck). A model of another kind (a workload registered outside this package) gets the
children of its ModuleLists and Sequentials that repeat one class, at least two of them.
"""

from __future__ import annotations

import functools

from torch import nn
from torch.utils.checkpoint import checkpoint

from scaling.workloads.models.gpt import Block
from scaling.workloads.models.resnet import BasicBlock, Bottleneck

BLOCK_TYPES = (Block, BasicBlock, Bottleneck)


def find_blocks(model: nn.Module) -> list[nn.Module]:
    """The model's repeated blocks in forward order (module order), outermost only."""
    known = [m for m in model.modules() if isinstance(m, BLOCK_TYPES)]
    if known:
        return known
    found: list[nn.Module] = []
    for m in model.modules():
        if not isinstance(m, nn.ModuleList | nn.Sequential) or any(m in b.modules() for b in found):
            continue
        kids = list(m.children())
        if (
            len(kids) >= 2
            and len({type(k) for k in kids}) == 1
            and next(kids[0].parameters(), None) is not None
        ):
            found.extend(kids)
    return found


def checkpoint_every(blocks: list[nn.Module], every: int) -> int:
    """Recompute every `every`-th block's activations in backward (torch.utils.checkpoint,
    non-reentrant); 0 leaves all as they are. Returns how many blocks are checkpointed.

    The block's own forward is replaced, not the block: parameter names stay, and FSDP2's
    hooks (on the block) still run around the checkpointed call, as with torchtitan's
    checkpoint_wrapper."""
    if every <= 0:
        return 0
    chosen = blocks[every - 1 :: every]
    for block in chosen:
        block.forward = functools.partial(_checkpointed, block.forward)
    return len(chosen)


def _checkpointed(forward, *args, **kwargs):
    return checkpoint(forward, *args, use_reentrant=False, **kwargs)


def compile_blocks(blocks: list[nn.Module]) -> None:
    """torch.compile each block in place (as torchtitan does: per block, before FSDP2 wraps
    it). Compilation happens in the first step (the probe), which is not timed."""
    for block in blocks:
        block.compile()


def require_compiler(device: str) -> None:
    """On CPU, inductor compiles C++: without a compiler, say so in one line up front
    instead of a long traceback at the first step."""
    if device != "cpu":
        return
    from torch._inductor import cpp_builder

    find = getattr(cpp_builder, "get_cpp_compiler", None)  # private: absent, inductor decides
    if find is None:
        return
    try:
        find()
    except Exception as e:  # noqa: BLE001 - torch raises several kinds; one line is the point
        raise RuntimeError(f"compile on CPU needs a C++ compiler: {str(e).splitlines()[0]}") from e


def prepare(model: nn.Module, spec: dict, device: str) -> tuple[list[nn.Module], dict]:
    """Activation checkpointing and torch.compile on the model's blocks: (blocks, facts).
    Every strategy runs it before wrapping (DDP in strategy.py, FSDP2 in fsdp2.py)."""
    blocks = find_blocks(model)
    checkpointed = checkpoint_every(blocks, int(spec.get("activation_checkpointing") or 0))
    if spec.get("compile"):
        require_compiler(device)
        compile_blocks(blocks)
    return blocks, {"blocks": len(blocks), "checkpointed_blocks": checkpointed}
