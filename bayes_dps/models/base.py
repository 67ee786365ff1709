"""Networks split into a feature extractor ``h_θ(x) ∈ R^d`` and a linear head ``θ^(l)``.

Both papers work on the last layer: Deng et al.'s last-layer Laplace posterior (Eq. 13–15)
needs ``h_θ(x)`` and the head's weights; BADS's weight network embeds points with detached
features. Every network here therefore exposes ``features(x)`` and ``head`` (an ``nn.Linear``)
with ``forward(x) == head(features(x))``.
"""

from __future__ import annotations

import torch
from torch import nn


class FeatureHeadModel(nn.Module):
    """Base class: subclasses build ``self.head`` and implement :meth:`features`."""

    head: nn.Linear

    def features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits, features)`` from one pass."""
        h = self.features(x)
        return self.head(h), h

    @property
    def feature_dim(self) -> int:
        return self.head.in_features

    @property
    def num_classes(self) -> int:
        return self.head.out_features
