"""GPT-style decoder data-parallel training on synthetic tokens (workload "transformer").

AdamW with GPT-3's betas (0.9, 0.95), weight decay 0.1 and learning rate 6e-4 (fused
kernels on GPU). Presets are the model presets of `models/gpt.py`, each with a
per-rank batch that fits an 80 GB GPU in bf16. FLOPs per token follow PaLM (6N plus
attention), see `flops.py`. `setup` runs on the ranks and imports torch there; `memory` says
what `scaling tune`'s memory model counts.

    scaling run --gpus 1,2,4,8 --workloads transformer --precision bf16
"""

from __future__ import annotations

from dataclasses import dataclass

from scaling.config.fields import setting
from scaling.workloads import training
from scaling.workloads.training.optimizer import OptimizerSpec, default_impl
from scaling.workloads.training.shapes import transformer_shape

PRESETS = {
    "tiny": {"batch": 8},  # n_layer 2, d_model 128, 128 tokens: CPU-sized
    "gpt2-small": {"batch": 16},
    "gpt2-medium": {"batch": 8},
    "1.3b": {"batch": 4},
}


@dataclass
class TransformerWorkloadConfig:
    """Data-parallel GPT-style decoder training on synthetic tokens; AdamW."""

    preset: str = setting("auto", choices=lambda: ("auto", *PRESETS))
    """Model size: tiny (CPU-sized), gpt2-small (124M), gpt2-medium (355M), 1.3b. auto: tiny on cpu, gpt2-medium on cuda."""

    batch: int | None = None
    """Per-rank batch (strong scaling: at the largest world size). Unset: the preset's (tiny 8, gpt2-small 16, gpt2-medium 8, 1.3b 4)."""

    seq_len: int | None = None
    """Tokens per sequence. Unset: the preset's context (tiny 128, gpt2 1024, 1.3b 2048)."""


def setup(preset: str, spec: dict, batch: int, global_batch: int, device: str, seed: int):
    """Rank side: the model, its optimizer and one synthetic batch, on the device."""
    import torch

    from scaling.workloads.flops import transformer_train_flops_per_token
    from scaling.workloads.models import build_model, synthetic_batch, transformer_config
    from scaling.workloads.training.bench import ModelSetup

    overrides = {"seq_len": spec["seq_len"]} if spec.get("seq_len") else {}
    cfg = transformer_config(preset, **overrides)
    with torch.device(device):
        model = build_model("transformer", cfg=cfg)
    tokens, targets = synthetic_batch(
        "transformer", batch, device, seq_len=cfg.seq_len, vocab=cfg.vocab_size, seed=seed
    )
    fused = device == "cuda"

    def make_optimizer(params):
        return torch.optim.AdamW(
            params, lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=fused or None
        )

    return ModelSetup(
        model=model,
        make_optimizer=make_optimizer,
        inputs=tokens,
        targets=targets,
        flops_per_sample=transformer_train_flops_per_token(cfg) * cfg.seq_len,
        tokens_per_sample=cfg.seq_len,
        facts={
            "seq_len": cfg.seq_len,
            "n_layer": cfg.n_layer,
            "d_model": cfg.d_model,
            "n_head": cfg.n_head,
        },
    )


def memory(section: TransformerWorkloadConfig, preset: str, device: str):
    """Driver, for `scaling tune`: the decoder `setup` builds (the preset at the section's
    seq_len) and its optimizer, AdamW, fused on CUDA as `setup` asks."""
    from scaling.workloads.models.gpt import transformer_config  # torch: tune has it

    overrides = {"seq_len": section.seq_len} if section.seq_len else {}
    t = transformer_config(preset, **overrides)
    shape = transformer_shape(t.n_layer, t.d_model, t.seq_len, t.vocab_size, preset)
    return shape, OptimizerSpec("adamw", impl=default_impl(device, fused=device == "cuda"))


WORKLOAD = training.workload(
    "transformer",
    TransformerWorkloadConfig,
    PRESETS,
    training.Model(
        setup=f"{__name__}:setup",
        auto_preset={"cpu": "tiny", "cuda": "gpt2-medium"},
        memory=memory,
    ),
)
