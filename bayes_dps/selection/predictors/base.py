"""Validation / zero-shot predictors ``f̃`` (Deng et al. Eq. 10; RHO-LOSS's irreducible-loss
model): anything that gives class logits for a batch of inputs.

``logits(x, idx)`` receives the batch's inputs and their dataset indices; a cached predictor
uses only ``idx``, a model only ``x``.
"""

from __future__ import annotations

import torch
from torch import nn

from bayes_dps.errors import DataError, NumericalError


class Predictor:
    """Interface: ``num_classes`` and ``logits(x, idx) → (n, k)``."""

    num_classes: int
    name: str = "predictor"

    def logits(self, x: torch.Tensor, idx: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover

    def check_classes(self, num_classes: int) -> None:
        """Raise if this predictor's class count differs from the dataset's."""
        if self.num_classes != num_classes:
            raise DataError(
                f"{self.name} predicts {self.num_classes} classes but the dataset has "
                f"{num_classes}; give it the dataset's class names (or a model with "
                f"{num_classes} outputs)"
            )


def check_finite_logits(logits: torch.Tensor, name: str) -> torch.Tensor:
    if not torch.isfinite(logits).all():
        raise NumericalError(f"{name} produced NaN or infinite logits")
    return logits


class ModelPredictor(Predictor):
    """A trained network in eval mode (e.g. the holdout-trained irreducible-loss model)."""

    def __init__(self, model: nn.Module, name: str = "model") -> None:
        self.model = model.eval()
        self.name = name
        self.num_classes = int(model.head.out_features if hasattr(model, "head") else -1)

    @torch.no_grad()
    def logits(self, x: torch.Tensor, idx: torch.Tensor | None = None) -> torch.Tensor:
        self.model.eval()
        return check_finite_logits(self.model(x), self.name)
