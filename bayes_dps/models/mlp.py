"""Multi-layer perceptron (inputs of any shape are flattened)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bayes_dps.models.base import FeatureHeadModel


class MLP(FeatureHeadModel):
    """``in_features → hidden… → num_classes`` with ReLU (and dropout with probability
    ``dropout`` after each hidden layer); ``features`` is the last hidden layer."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden: Sequence[int] = (256, 256),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
