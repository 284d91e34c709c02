"""ResNet v1.5 (He et al. 2015, arXiv:1512.03385), defined here so that scaling does not
depend on torchvision.

"v1.5" puts the stride-2 of a downsampling bottleneck on its 3x3 conv instead of the first
1x1 conv: more accurate, slightly more FLOPs, and what NVIDIA's and torchvision's ResNet-50
benchmarks run. Module names follow torchvision's `resnet.py` exactly, so `state_dict` keys
and shapes match and torchvision's pretrained weights load with `load_state_dict`.

    >>> from scaling.workloads.models.resnet import resnet50
    >>> sum(p.numel() for p in resnet50().parameters())
    25557032
"""

from __future__ import annotations

import torch
from torch import nn


def _conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    # No bias: every conv is followed by BatchNorm, whose shift makes a bias redundant.
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18/34)."""

    expansion = 1

    def __init__(
        self, in_ch: int, width: int, stride: int = 1, downsample: nn.Module | None = None
    ):
        super().__init__()
        self.conv1 = _conv3x3(in_ch, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(width, width)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity  # in place, as torchvision does: one activation fewer kept alive
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carries the stride: v1.5), 1x1 expand by 4 (ResNet-50/101)."""

    expansion = 4

    def __init__(
        self, in_ch: int, width: int, stride: int = 1, downsample: nn.Module | None = None
    ):
        super().__init__()
        self.conv1 = _conv1x1(in_ch, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = _conv1x1(width, width * self.expansion)
        self.bn3 = nn.BatchNorm2d(width * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """Stem (7x7/2 conv, 3x3/2 max-pool), four stages of blocks, global average pool, fc."""

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        blocks_per_stage: list[int],
        num_classes: int = 1000,
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_ch = 64
        stages = []
        for i, n_blocks in enumerate(blocks_per_stage):
            width = 64 * 2**i
            stage, in_ch = _make_stage(block, in_ch, width, n_blocks, stride=1 if i == 0 else 2)
            stages.append(stage)
        # Named layer1..layer4 as in torchvision, so checkpoints load.
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(in_ch, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # The initialisation torchvision uses (He et al. 2015, fan_out), so a freshly built
        # model trains and times like the reference.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _make_stage(
    block: type[BasicBlock] | type[Bottleneck], in_ch: int, width: int, n_blocks: int, stride: int
) -> tuple[nn.Sequential, int]:
    out_ch = width * block.expansion
    downsample = None
    if stride != 1 or in_ch != out_ch:
        # Projection shortcut (option B of the paper) where the shape changes.
        downsample = nn.Sequential(_conv1x1(in_ch, out_ch, stride), nn.BatchNorm2d(out_ch))
    layers = [block(in_ch, width, stride, downsample)]
    layers += [block(out_ch, width) for _ in range(1, n_blocks)]
    return nn.Sequential(*layers), out_ch


# Blocks per stage, from Table 1 of the paper.
DEPTHS: dict[str, tuple[type[BasicBlock] | type[Bottleneck], list[int]]] = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
    "resnet101": (Bottleneck, [3, 4, 23, 3]),
}


def build_resnet(name: str, num_classes: int = 1000) -> ResNet:
    """Build one of `DEPTHS` by name."""
    block, blocks_per_stage = DEPTHS[name]
    return ResNet(block, blocks_per_stage, num_classes)


def resnet18(num_classes: int = 1000) -> ResNet:
    return build_resnet("resnet18", num_classes)


def resnet34(num_classes: int = 1000) -> ResNet:
    return build_resnet("resnet34", num_classes)


def resnet50(num_classes: int = 1000) -> ResNet:
    return build_resnet("resnet50", num_classes)


def resnet101(num_classes: int = 1000) -> ResNet:
    return build_resnet("resnet101", num_classes)
