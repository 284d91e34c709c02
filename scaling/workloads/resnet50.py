"""ResNet-50 v1.5 data-parallel training on synthetic images (workload "resnet50").

SGD with momentum 0.9 and weight decay 1e-4 (He et al. 2015), learning rate 0.1 per 256
images of global batch (Goyal et al. 2017's linear scaling rule). Optionally channels_last.
The step itself is measured by the training step bench (workloads/training); this module
says what to build (`setup`, on the ranks, imports torch there) and what `scaling tune`'s
memory model counts (`memory`, on the driver, no torch).

    scaling run --gpus 1,2,4,8 --workloads resnet50 --precision bf16
"""

from __future__ import annotations

from dataclasses import dataclass

from scaling.config.fields import setting
from scaling.workloads import training
from scaling.workloads.training.optimizer import OptimizerSpec, default_impl
from scaling.workloads.training.shapes import resnet_shape

PRESETS = {
    # CPU-sized: the whole default suite at --gpus 1,2 runs in about a minute on 2 cores.
    "tiny": {"batch": 8, "image_size": 32},
    # ImageNet shape and the per-GPU batch of NVIDIA's DeepLearningExamples (AMP) runs.
    "imagenet": {"batch": 256, "image_size": 224},
}


@dataclass
class ResNet50WorkloadConfig:
    """Data-parallel ResNet-50 v1.5 training on synthetic images; SGD with momentum and weight decay."""

    preset: str = setting("auto", choices=lambda: ("auto", *PRESETS))
    """tiny: 32 px images, batch 8 (CPU-sized); imagenet: 224 px, batch 256. auto: tiny on cpu, imagenet on cuda."""

    batch: int | None = None
    """Per-rank batch (strong scaling: at the largest world size). Unset: the preset's."""

    image_size: int | None = None
    """Image height and width in pixels. Unset: the preset's."""

    channels_last: bool = True
    """Run in channels_last (NHWC) memory format, which tensor cores prefer."""


def setup(preset: str, spec: dict, batch: int, global_batch: int, device: str, seed: int):
    """Rank side: the model, its optimizer and one synthetic batch, on the device."""
    import torch

    from scaling.workloads.flops import resnet_train_flops_per_sample
    from scaling.workloads.models import build_model, synthetic_batch
    from scaling.workloads.training.bench import ModelSetup

    image_size = spec.get("image_size") or PRESETS[preset]["image_size"]
    channels_last = bool(spec.get("channels_last"))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    with torch.device(device):
        model = build_model("resnet50").to(memory_format=fmt)
    images, labels = synthetic_batch("resnet50", batch, device, image_size=image_size, seed=seed)
    lr = 0.1 * global_batch / 256

    def make_optimizer(params):
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)

    return ModelSetup(
        model=model,
        make_optimizer=make_optimizer,
        inputs=images.contiguous(memory_format=fmt),
        targets=labels,
        flops_per_sample=resnet_train_flops_per_sample("resnet50", image_size),
        facts={"image_size": image_size, "channels_last": channels_last},
    )


def memory(section: ResNet50WorkloadConfig, preset: str, device: str):
    """Driver, for `scaling tune`: the shape `setup` builds (every preset is ResNet-50; the
    image size changes activations, which tune measures) and its optimizer, SGD with momentum
    and weight decay, in torch's default implementation on the device."""
    shape = resnet_shape((3, 4, 6, 3), bottleneck=True, name=f"resnet50 ({preset})")
    return shape, OptimizerSpec("sgd", impl=default_impl(device))


WORKLOAD = training.workload(
    "resnet50",
    ResNet50WorkloadConfig,
    PRESETS,
    training.Model(
        setup=f"{__name__}:setup",
        auto_preset={"cpu": "tiny", "cuda": "imagenet"},
        memory=memory,
    ),
)
