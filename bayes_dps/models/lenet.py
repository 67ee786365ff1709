"""LeNet-5 (LeCun et al. 1998), the BADS paper's MNIST backbone."""

from __future__ import annotations

import torch
from torch import nn

from bayes_dps.errors import ConfigError
from bayes_dps.models.base import FeatureHeadModel


class LeNet5(FeatureHeadModel):
    """conv(6,5x5,pad 2) → pool → conv(16,5x5) → pool → 120 → 84 → head.

    Works for square inputs of at least 28 pixels (28x28 MNIST, 32x32 CIFAR).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> None:
        super().__init__()
        if image_size < 28:
            raise ConfigError(
                f"LeNet-5 needs inputs of at least 28x28 pixels, got {image_size}; "
                "use model: mlp for smaller images"
            )
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        side = ((image_size // 2) - 4) // 2
        self.fc = nn.Sequential(
            nn.Linear(16 * side * side, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU()
        )
        self.head = nn.Linear(84, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x))
