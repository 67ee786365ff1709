"""CIFAR ResNets: ResNet-18 with a 3x3 stem and no max-pool (Deng et al.'s backbone) and the
ResNet-32 of He et al. (2016, option-A shortcuts; the BADS paper's CIFAR backbone)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bayes_dps.models.base import FeatureHeadModel


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and a projection shortcut when the shape changes."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18CIFAR(FeatureHeadModel):
    """ResNet-18 for 32x32 inputs: 3x3 stem, no max-pool, stages 64-128-256-512, global pool."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
        )
        layers, in_planes = [], 64
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes, 1)]
            in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(512, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(self.stem(x))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)


class _PadShortcut(nn.Module):
    """Option-A shortcut: subsample by 2 and zero-pad the new channels (no parameters)."""

    def __init__(self, extra: int) -> None:
        super().__init__()
        self.extra = extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::2, ::2]
        return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


class _BlockA(BasicBlock):
    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__(in_planes, planes, stride)
        if stride != 1 or in_planes != planes:
            self.shortcut = _PadShortcut(planes - in_planes)


class ResNet32(FeatureHeadModel):
    """ResNet-32 (He et al. 2016, CIFAR variant): 3 stages x 5 blocks, 16-32-64 channels."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, blocks: int = 5) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()
        )
        layers, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for b in range(blocks):
                layers.append(_BlockA(in_planes, planes, stride if b == 0 else 1))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(self.stem(x))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)
