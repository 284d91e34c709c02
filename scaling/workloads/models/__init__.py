"""The models the training workloads run, built by name, and the synthetic batches they eat.

    >>> model = build_model("resnet50")  # torchvision-compatible ResNet-50
    >>> x, y = synthetic_batch("resnet50", 8, "cpu", image_size=64, seed=0)
    >>> loss = loss_fn(model(x), y)
    >>> gpt = build_model("transformer", preset="gpt2-small", seq_len=512)

The data is random and generated on the target device: it measures the training step, not an
input pipeline. Whoever reports a figure from it must say "synthetic data".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from scaling.workloads.models.gpt import (
    GPT,
    PRESETS,
    TransformerConfig,
    transformer_config,
)
from scaling.workloads.models.resnet import DEPTHS as RESNETS
from scaling.workloads.models.resnet import build_resnet

MODEL_NAMES = (*RESNETS, "transformer")

__all__ = [
    "MODEL_NAMES",
    "PRESETS",
    "RESNETS",
    "TransformerConfig",
    "build_model",
    "family",
    "loss_fn",
    "synthetic_batch",
    "transformer_config",
]


def family(name: str) -> str:
    """'resnet' or 'transformer'; ValueError for a name not in MODEL_NAMES."""
    if name in RESNETS:
        return "resnet"
    if name == "transformer":
        return "transformer"
    raise ValueError(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)}")


def build_model(name: str, **opts) -> nn.Module:
    """A fresh model on the current default device (wrap in `torch.device("meta")` to size it).

    ResNets take `num_classes` (default 1000). The transformer takes `preset` (default
    "tiny") plus any `TransformerConfig` field as an override, or a ready `cfg`.
    """
    if family(name) == "resnet":
        return build_resnet(name, **opts)
    cfg = opts.pop("cfg", None)
    if cfg is None:
        cfg = transformer_config(opts.pop("preset", "tiny"), **opts)
    elif opts:
        raise TypeError(f"pass either cfg or preset/overrides, not both (got {sorted(opts)})")
    return GPT(cfg)


def synthetic_batch(
    model_name: str,
    batch_size: int,
    device: torch.device | str,
    *,
    image_size: int = 224,
    num_classes: int = 1000,
    seq_len: int | None = None,
    vocab: int | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) of random data, made directly on `device` from a seeded generator.

    ResNet: images N(0, 1) of shape (batch, 3, image_size, image_size), integer labels.
    Transformer: token ids (batch, seq_len) and the same sequence shifted by one as targets,
    which is the next-token objective; `seq_len` and `vocab` are required.
    The same seed gives the same batch on the same device type; give each rank its own seed
    (e.g. seed + rank) if ranks should not see identical data.
    """
    device = torch.device(device)
    gen = torch.Generator(device=device).manual_seed(seed)
    if family(model_name) == "resnet":
        shape = (batch_size, 3, image_size, image_size)
        images = torch.randn(shape, generator=gen, device=device)
        labels = torch.randint(0, num_classes, (batch_size,), generator=gen, device=device)
        return images, labels
    if seq_len is None or vocab is None:
        raise ValueError("a transformer batch needs seq_len and vocab")
    tokens = torch.randint(0, vocab, (batch_size, seq_len + 1), generator=gen, device=device)
    return tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()


def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for both families: logits (..., classes) against integer targets (...)."""
    return F.cross_entropy(outputs.flatten(0, -2), targets.flatten())
