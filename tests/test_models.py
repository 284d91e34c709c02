"""Models: torchvision compatibility of the ResNets, GPT parameter counts, causality, batches.

The fixtures tests/fixtures/torchvision_resnet{18,50}_state_dict.json are ground truth taken
from torchvision's own source, not from this repo: `pip download torchvision==0.29.2
--no-deps` (the wheel only, never installed), extract torchvision/models/resnet.py, keep the
part before `def _resnet(`, delete its `from ..`/`from ._` imports, exec it with
`_log_api_usage_once` stubbed as a no-op, build `ResNet(BasicBlock, [2, 2, 2, 2])` and
`ResNet(Bottleneck, [3, 4, 6, 3])` on the meta device and dump
{state_dict key: list(shape)} in state_dict order, plus the parameter count.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from scaling.workloads.models import (
    build_model,
    loss_fn,
    synthetic_batch,
    transformer_config,
)
from scaling.workloads.models.gpt import GPT, PRESETS

FIXTURES = Path(__file__).parent / "fixtures"


def _meta(name: str, **opts) -> torch.nn.Module:
    with torch.device("meta"):
        return build_model(name, **opts)


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- ResNet --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_state_dict_matches_torchvision_key_by_key(name):
    expected = json.loads((FIXTURES / f"torchvision_{name}_state_dict.json").read_text())
    ours = {k: list(v.shape) for k, v in _meta(name).state_dict().items()}
    assert list(ours) == list(expected["state_dict"])  # same keys, same order
    for key, shape in expected["state_dict"].items():
        assert ours[key] == shape, key
    assert _n_params(_meta(name)) == expected["num_params"]


def test_resnet50_loads_a_torchvision_shaped_checkpoint_strictly():
    # What "real weights load" means: strict load_state_dict of tensors shaped as torchvision's.
    expected = json.loads((FIXTURES / "torchvision_resnet50_state_dict.json").read_text())
    dtypes = {k: v.dtype for k, v in _meta("resnet50").state_dict().items()}
    checkpoint = {
        k: torch.empty(shape, dtype=dtypes[k], device="meta")
        for k, shape in expected["state_dict"].items()
    }
    result = _meta("resnet50").load_state_dict(checkpoint, strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys


@pytest.mark.parametrize(
    "name, params",
    # Published by torchvision for its resnet18/34/50/101 (models docs, "Params" column).
    [("resnet18", 11_689_512), ("resnet34", 21_797_672), ("resnet50", 25_557_032),
     ("resnet101", 44_549_160)],
)  # fmt: skip
def test_resnet_parameter_counts(name, params):
    assert _n_params(_meta(name)) == params


def test_resnet_num_classes_changes_only_the_head():
    model = _meta("resnet50", num_classes=10)
    assert model.fc.weight.shape == (10, 2048)
    assert _n_params(model) == 25_557_032 - 990 * 2048 - 990


def test_resnet50_is_v1_5_stride_on_the_3x3_conv():
    # Key names and shapes cannot tell v1 from v1.5; the stride placement can.
    first = _meta("resnet50").layer2[0]
    assert first.conv1.stride == (1, 1)
    assert first.conv2.stride == (2, 2)
    assert first.downsample[0].stride == (2, 2)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_forward_shape_on_a_tiny_image(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=7)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


# --- Transformer ---------------------------------------------------------------------------


# Hand arithmetic, d = d_model, V = vocab, T = seq_len, L = n_layer:
#   tok_emb V*d (tied with lm_head, counted once) + pos_emb T*d + ln_f 2d
#   + L * (12 d^2 + 13 d): qkv 3d^2+3d, attn proj d^2+d, fc 4d^2+4d, mlp proj 4d^2+d, 2 LN 4d.
# gpt2-small:  38,597,376 + 786,432 + 1,536 + 12 * 7,087,872  = 124,439,808 (GPT-2 124M)
# gpt2-medium: 51,463,168 + 1,048,576 + 2,048 + 24 * 12,596,224 = 354,823,168 (GPT-2 355M)
# 1.3b:       102,926,336 + 4,194,304 + 4,096 + 24 * 50,358,272 = 1,315,723,264 (GPT-3 XL 1.3B)
@pytest.mark.parametrize(
    "preset, params",
    [("gpt2-small", 124_439_808), ("gpt2-medium", 354_823_168), ("1.3b", 1_315_723_264)],
)
def test_transformer_preset_parameter_counts(preset, params):
    model = _meta("transformer", preset=preset)
    assert model.num_params() == params
    assert model.num_params(exclude_position_embeddings=True) == params - (
        PRESETS[preset].seq_len * PRESETS[preset].d_model
    )


def test_transformer_presets_have_the_published_shapes():
    small, medium, xl = PRESETS["gpt2-small"], PRESETS["gpt2-medium"], PRESETS["1.3b"]
    assert (small.n_layer, small.n_head, small.d_model, small.seq_len) == (12, 12, 768, 1024)
    assert (medium.n_layer, medium.n_head, medium.d_model) == (24, 16, 1024)
    assert (xl.n_layer, xl.n_head, xl.d_model, xl.seq_len) == (24, 16, 2048, 2048)
    assert {small.vocab_size, medium.vocab_size, xl.vocab_size} == {50257}


def _tiny(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return build_model("transformer", preset="tiny").eval()


def test_tiny_transformer_forward_shape_and_loss():
    cfg = PRESETS["tiny"]
    model = _tiny()
    x, y = synthetic_batch("transformer", 3, "cpu", seq_len=cfg.seq_len, vocab=cfg.vocab_size)
    logits = model(x)
    assert logits.shape == (3, cfg.seq_len, cfg.vocab_size)
    # An untrained model predicts close to uniform: loss near ln(vocab).
    assert loss_fn(logits, y).item() == pytest.approx(math.log(cfg.vocab_size), rel=0.05)


def test_attention_is_causal():
    cfg = PRESETS["tiny"]
    model = _tiny()
    x, _ = synthetic_batch("transformer", 2, "cpu", seq_len=cfg.seq_len, vocab=cfg.vocab_size)
    k = 40
    changed = x.clone()
    changed[:, k] = (changed[:, k] + 1) % cfg.vocab_size
    with torch.no_grad():
        before, after = model(x), model(changed)
    # Positions before k cannot see token k...
    assert torch.equal(before[:, :k], after[:, :k])
    # ...while k and everything after it does (so the test would catch a model ignoring input).
    assert not torch.allclose(before[:, k], after[:, k])
    assert not torch.allclose(before[:, -1], after[:, -1])


def test_embeddings_are_tied():
    model = _tiny()
    assert model.lm_head.weight is model.tok_emb.weight
    assert model.lm_head.weight.data_ptr() == model.tok_emb.weight.data_ptr()
    # One shared parameter, so one gradient that sums both uses.
    names = [n for n, _ in model.named_parameters()]
    assert "tok_emb.weight" in names and "lm_head.weight" not in names
    x, y = synthetic_batch("transformer", 2, "cpu", seq_len=16, vocab=1024)
    loss_fn(model.train()(x), y).backward()
    assert model.tok_emb.weight.grad is model.lm_head.weight.grad


def test_transformer_overrides_and_config_errors():
    model = _meta("transformer", preset="gpt2-small", seq_len=256, n_layer=2)
    assert (model.cfg.seq_len, model.cfg.n_layer, model.cfg.d_model) == (256, 2, 768)
    assert model.pos_emb.weight.shape == (256, 768)
    with pytest.raises(ValueError, match="divisible"):
        transformer_config("tiny", n_head=3)
    with pytest.raises(ValueError, match="unknown transformer preset"):
        build_model("transformer", preset="gpt5")
    with pytest.raises(TypeError):
        build_model("transformer", cfg=PRESETS["tiny"], n_layer=3)
    with pytest.raises(ValueError, match="exceeds seq_len"):
        _tiny()(torch.zeros(1, PRESETS["tiny"].seq_len + 1, dtype=torch.long))


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model"):
        build_model("vgg16")


# --- Synthetic batches ---------------------------------------------------------------------


def test_resnet_synthetic_batch_is_seeded_and_shaped():
    x, y = synthetic_batch("resnet50", 4, "cpu", image_size=64, num_classes=10, seed=3)
    x2, y2 = synthetic_batch("resnet50", 4, "cpu", image_size=64, num_classes=10, seed=3)
    x3, _ = synthetic_batch("resnet50", 4, "cpu", image_size=64, num_classes=10, seed=4)
    assert x.shape == (4, 3, 64, 64) and x.dtype == torch.float32
    assert y.shape == (4,) and y.dtype == torch.long and y.min() >= 0 and y.max() < 10
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, x3)


def test_transformer_synthetic_batch_targets_are_next_tokens():
    x, y = synthetic_batch("transformer", 2, "cpu", seq_len=32, vocab=50, seed=1)
    assert x.shape == y.shape == (2, 32)
    assert torch.equal(x[:, 1:], y[:, :-1])
    assert x.min() >= 0 and x.max() < 50
    assert torch.equal(x, synthetic_batch("transformer", 2, "cpu", seq_len=32, vocab=50, seed=1)[0])
    with pytest.raises(ValueError, match="seq_len and vocab"):
        synthetic_batch("transformer", 2, "cpu")
