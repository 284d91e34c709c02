"""Model FLOPs of one training step (forward + backward), the numerator of MFU.

Conventions, the ones MFU figures in the literature use:

- A multiply-accumulate (MAC) is 2 FLOPs.
- Backward costs twice the forward (a gradient for the input and one for the weights), so a
  training step is 3x the forward: 6 FLOPs per MAC.
- Only matmuls and convolutions count. Normalisation, activations, pooling, residual adds,
  softmax and the optimizer are left out; they are a few percent at most and the peak
  figures they would be compared with are matmul (tensor core) peaks anyway.
- "Model" FLOPs: no activation recomputation is counted even if a run uses it.
"""

from __future__ import annotations

import torch
from torch import nn

from scaling.workloads.models import build_model
from scaling.workloads.models.gpt import GPT, TransformerConfig, transformer_config

# A training step = forward (1x) + backward (2x); each MAC = 2 FLOPs.
_TRAIN_FLOPS_PER_FORWARD_MAC = 3 * 2


def resnet_forward_macs(model_or_name: nn.Module | str, image_size: int = 224) -> int:
    """Multiply-accumulates of one image's forward pass, summed over conv and linear layers.

    Found by running a forward with hooks that read each layer's output shape, so it follows
    the model's real strides and paddings at any image size. A name ("resnet50") is built on
    the meta device, where the forward costs no compute or memory. A live module is run once
    in eval mode under no_grad on its own device (eval: BatchNorm running stats stay as they
    were), then put back in the mode it was in.

    For ResNet-50 at 224x224 this gives 4.089e9, the 4.09 GMACs torchvision and the
    literature quote (they are the same conv + fc count).
    """
    if isinstance(model_or_name, str):
        with torch.device("meta"):
            model = build_model(model_or_name)
    else:
        model = model_or_name
    param = next(model.parameters())
    macs = 0

    def count(module: nn.Module, _inputs, output: torch.Tensor) -> None:
        nonlocal macs
        per_sample_outputs = output.numel() // output.shape[0]
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            macs += per_sample_outputs * (module.in_channels // module.groups) * kh * kw
        else:
            macs += per_sample_outputs * module.in_features

    hooks = [
        m.register_forward_hook(count)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, image_size, image_size, device=param.device, dtype=param.dtype))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return macs


def resnet_train_flops_per_sample(model_or_name: nn.Module | str, image_size: int = 224) -> float:
    """FLOPs of one image's training step: 3 x 2 x forward MACs (docs/formulas.md: ResNet-50 at
    224^2 is 4.09 GMACs forward, so about 24.5 GFLOP per image per step).

    The 3x slightly overstates the stem: the first conv needs no gradient for its input,
    which at 224^2 saves 0.118 GMACs of a 3 x 4.09 GMAC step (about 1%). The convention is
    kept so figures compare with published MFU.
    """
    return float(_TRAIN_FLOPS_PER_FORWARD_MAC * resnet_forward_macs(model_or_name, image_size))


def transformer_train_flops_per_token(cfg: TransformerConfig | str) -> float:
    """FLOPs of one token's training step: 6N + 12 * n_layer * n_head * head_dim * seq_len.

    Source: Chowdhery et al. 2022, "PaLM: Scaling Language Modeling with Pathways",
    appendix B (model FLOPs utilization); the same formula as nanoGPT's `estimate_mfu`.

    - 6N: each parameter of a matmul does one MAC per token forward (2 FLOPs) and two
      backward (4 FLOPs).
    - N is every parameter except the position embeddings, as nanoGPT counts it: a position
      lookup is an addition, not a matmul. The token embedding IS counted, once: it is tied
      to the output projection, whose matmul does (d_model x vocab) MACs per token; the input
      lookup side does none. Biases and LayerNorm weights are counted too (the convention);
      they overstate by 6 FLOPs each, about 0.1% for gpt2-small.
    - 12 * L * H * Q * T: attention scores (Q K^T) and their weighting of V, each 2*T*Q FLOPs
      per token per head forward, times 3 for the step. T is `cfg.seq_len`, the full context:
      PaLM does not halve it for the causal mask even though flash attention skips the
      masked half.

    A preset name ("gpt2-small") is accepted in place of a config.
    """
    if isinstance(cfg, str):
        cfg = transformer_config(cfg)
    with torch.device("meta"):  # count parameters without allocating them
        n = GPT(cfg).num_params(exclude_position_embeddings=True)
    attention = 12 * cfg.n_layer * cfg.n_head * cfg.head_dim * cfg.seq_len
    return float(6 * n + attention)
