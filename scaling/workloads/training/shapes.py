"""Parameter counts of the training models, from their shapes alone (no torch).

The memory model needs more than one number per model: FSDP2 shards and all-gathers by unit
(a transformer block, a ResNet bottleneck), autocast casts only the conv/linear weights, and a
for-loop optimizer's temporary is as large as the largest single tensor. Counting from the
shapes gives all of that without building the model, so a plan for an 80 GB GPU can be made
on a laptop. A training workload's model spec (`training.Model.memory`) returns its shape;
tests/test_tune_memory.py checks every count against the torch models in
scaling/workloads/models/.

    >>> transformer_shape(n_layer=12, d_model=768, seq_len=1024, vocab_size=50257).params
    124439808
    >>> resnet_shape(blocks_per_stage=(3, 4, 6, 3), bottleneck=True).params
    25557032
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelShape:
    """What the memory model needs to know about a model's parameters (element counts)."""

    name: str
    units: tuple[int, ...]
    """Parameters of each repeated block: FSDP2 wraps one unit per block, and activation
    checkpointing counts in blocks."""
    root: int
    """Parameters outside the blocks (embeddings, stem, head): FSDP2's root unit."""
    autocast: int
    """Parameters autocast casts to bf16/fp16 for a step (conv and linear weights and linear
    biases); the copies are saved for backward."""
    largest: int
    """Elements of the largest single parameter tensor."""
    buffers: int = 0
    """Floating-point buffers that are not parameters (BatchNorm running statistics)."""

    @property
    def params(self) -> int:
        """Trainable parameters; a tied weight counts once."""
        return sum(self.units) + self.root

    @property
    def blocks(self) -> int:
        return len(self.units)


def transformer_shape(
    n_layer: int, d_model: int, seq_len: int, vocab_size: int, name: str = "transformer"
) -> ModelShape:
    """The GPT decoder of models/gpt.py (GPT-2 layout, biases, tied embeddings)."""
    d = d_model
    # ln_1 (2d) + qkv (3d^2 + 3d) + proj (d^2 + d) + ln_2 (2d) + fc (4d^2 + 4d) + proj (4d^2 + d)
    block = 12 * d * d + 13 * d
    block_linear = 12 * d * d + 9 * d
    embeddings = vocab_size * d + seq_len * d
    return ModelShape(
        name=name,
        units=(block,) * n_layer,
        root=embeddings + 2 * d,  # + ln_f; lm_head is the token embedding (tied)
        # The tied lm_head runs as a linear layer: autocast casts the token embedding too.
        autocast=n_layer * block_linear + vocab_size * d,
        largest=max(vocab_size * d, seq_len * d, 4 * d * d),
    )


def transformer_shape_of(cfg, name: str = "transformer") -> ModelShape:
    """From any object with n_layer, d_model, seq_len and vocab_size (a TransformerConfig)."""
    return transformer_shape(cfg.n_layer, cfg.d_model, cfg.seq_len, cfg.vocab_size, name)


def _bottleneck(in_ch: int, width: int, shortcut: bool) -> tuple[int, int, int]:
    """(parameters, conv weights, largest tensor) of a bottleneck: 1x1, 3x3, 1x1 x4, norms."""
    out = 4 * width
    tensors = [in_ch * width, 9 * width * width, width * out] + ([in_ch * out] if shortcut else [])
    norms = 2 * (width + width + out) + (2 * out if shortcut else 0)
    return sum(tensors) + norms, sum(tensors), max(tensors)


def _basic(in_ch: int, width: int, shortcut: bool) -> tuple[int, int, int]:
    """(parameters, conv weights, largest tensor) of a basic block: two 3x3 convs, norms."""
    tensors = [9 * in_ch * width, 9 * width * width] + ([in_ch * width] if shortcut else [])
    norms = 4 * width + (2 * width if shortcut else 0)
    return sum(tensors) + norms, sum(tensors), max(tensors)


def resnet_shape(
    blocks_per_stage: tuple[int, ...] | list[int],
    bottleneck: bool,
    num_classes: int = 1000,
    name: str = "resnet",
) -> ModelShape:
    """A ResNet v1.5 of models/resnet.py: stem, four stages of blocks, fc."""
    block = _bottleneck if bottleneck else _basic
    expansion = 4 if bottleneck else 1
    units, autocast, largest, channels = [], 0, 0, 0
    in_ch = 64
    for i, n in enumerate(blocks_per_stage):
        width = 64 * 2**i
        out = width * expansion
        for j in range(n):
            # A projection shortcut where the shape changes: the first block of each stage
            # (stride 2 from stage 2 on, or a channel change in stage 1).
            shortcut = j == 0 and (i > 0 or in_ch != out)
            params, convs, big = block(in_ch, width, shortcut)
            units.append(params)
            autocast += convs
            largest = max(largest, big)
            channels += params - convs  # BatchNorm weight + bias: as many running stats
            in_ch = out
    stem_conv, stem_bn = 3 * 64 * 7 * 7, 2 * 64
    fc = in_ch * num_classes + num_classes
    return ModelShape(
        name=name,
        units=tuple(units),
        root=stem_conv + stem_bn + fc,
        autocast=autocast + stem_conv + fc,
        largest=max(largest, in_ch * num_classes, stem_conv),
        buffers=channels + stem_bn,  # running_mean + running_var per channel
    )
