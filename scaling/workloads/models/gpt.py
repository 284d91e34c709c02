"""GPT-style decoder-only transformer (GPT-2 layout, Radford et al. 2019).

Pre-LayerNorm blocks, causal self-attention through
`torch.nn.functional.scaled_dot_product_attention(is_causal=True)` (so PyTorch picks the
flash or memory-efficient kernel on GPU), a 4x GELU MLP, learned positional embeddings and
an output projection tied to the token embedding. Linear layers and LayerNorms carry biases
as in GPT-2, so the presets reproduce the published parameter counts.

    >>> import torch
    >>> from scaling.workloads.models.gpt import GPT, PRESETS
    >>> with torch.device("meta"):  # counts parameters without allocating 124M floats
    ...     GPT(PRESETS["gpt2-small"]).num_params()
    124439808
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class TransformerConfig:
    """Shape of the decoder. Every field can be overridden on top of a preset."""

    n_layer: int = 12
    """Number of transformer blocks."""
    n_head: int = 12
    """Attention heads per block; must divide d_model."""
    d_model: int = 768
    """Residual stream width (GPT-2's n_embd)."""
    seq_len: int = 1024
    """Context length: the size of the positional embedding and of a training sequence."""
    vocab_size: int = 50257
    """Token vocabulary. GPT-2's BPE has 50257 tokens."""
    dropout: float = 0.0
    """Dropout on attention, residual and embedding outputs. 0 for benchmarking."""

    def __post_init__(self) -> None:
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_head={self.n_head}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head


PRESETS: dict[str, TransformerConfig] = {
    # Sized so that a 2-core CPU does several training steps per second at batch 8.
    "tiny": TransformerConfig(n_layer=2, n_head=4, d_model=128, seq_len=128, vocab_size=1024),
    # GPT-2 small and medium (Radford et al. 2019, Table 2), context 1024.
    "gpt2-small": TransformerConfig(n_layer=12, n_head=12, d_model=768),
    "gpt2-medium": TransformerConfig(n_layer=24, n_head=16, d_model=1024),
    # GPT-3 XL (Brown et al. 2020, Table 2.1): 24 layers, d 2048, 16 heads, context 2048.
    "1.3b": TransformerConfig(n_layer=24, n_head=16, d_model=2048, seq_len=2048),
}


def transformer_config(preset: str = "tiny", **overrides) -> TransformerConfig:
    """A preset with some fields replaced, e.g. `transformer_config("gpt2-small", seq_len=512)`."""
    if preset not in PRESETS:
        raise ValueError(f"unknown transformer preset {preset!r}; known: {sorted(PRESETS)}")
    return dataclasses.replace(PRESETS[preset], **overrides)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)  # one matmul for q, k and v
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        # (b, t, 3d) -> three (b, n_head, t, head_dim) tensors, the layout SDPA expects.
        q, k, v = self.qkv(x).view(b, t, 3, self.n_head, d // self.n_head).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )
        return self.resid_drop(self.proj(y.transpose(1, 2).reshape(b, t, d)))


class MLP(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, 4 * cfg.d_model)
        self.act = nn.GELU()
        self.proj = nn.Linear(4 * cfg.d_model, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(self.act(self.fc(x))))


class Block(nn.Module):
    """Pre-LN: x + attn(ln(x)), then x + mlp(ln(x)); the residual stream is never normalised."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Token ids (batch, t <= seq_len) -> next-token logits (batch, t, vocab_size)."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.seq_len, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        # Tied embeddings (Press & Wolf 2017, as in GPT-2): one matrix, one gradient.
        self.lm_head.weight = self.tok_emb.weight
        self._init_weights(cfg)

    def _init_weights(self, cfg: TransformerConfig) -> None:
        # GPT-2 initialisation: N(0, 0.02), with the projections that write into the residual
        # stream scaled by 1/sqrt(2 * n_layer) so its variance does not grow with depth.
        for name, p in self.named_parameters():
            if p.dim() < 2:
                continue  # biases and LayerNorm keep PyTorch's zeros/ones
            std = 0.02 / math.sqrt(2 * cfg.n_layer) if name.endswith("proj.weight") else 0.02
            nn.init.normal_(p, mean=0.0, std=std)
        for m in self.modules():
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        if t > self.cfg.seq_len:
            raise ValueError(f"sequence of {t} tokens exceeds seq_len={self.cfg.seq_len}")
        pos = torch.arange(t, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))

    def num_params(self, exclude_position_embeddings: bool = False) -> int:
        """Parameter count; the tied embedding counts once (`parameters()` deduplicates it).

        `exclude_position_embeddings=True` is the N of the 6N FLOPs rule as nanoGPT counts it:
        a position-embedding lookup is an addition, not a matmul.
        """
        n = sum(p.numel() for p in self.parameters())
        return n - self.pos_emb.weight.numel() if exclude_position_embeddings else n
