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
    """A trained network in eval mode (e.g. the holdout-trained irreducible-loss model).

    Any ``nn.Module`` mapping inputs to ``(n, k)`` logits works. Its class count is read from
    a linear ``head`` when it has one, else from ``num_classes=``, else learnt on the first
    call; a model whose outputs do not match the dataset's classes is refused then."""

    def __init__(self, model: nn.Module, name: str = "model", num_classes: int | None = None):
        self.model = model.eval()
        self.name = name
        head = getattr(model, "head", None)
        if num_classes is None and isinstance(head, nn.Linear):
            num_classes = head.out_features
        self.num_classes = num_classes  # None: known after the first call
        self._expected: int | None = None

    def check_classes(self, num_classes: int) -> None:
        if self.num_classes is None:
            self._expected = num_classes  # checked against the first outputs
            return
        super().check_classes(num_classes)

    @torch.no_grad()
    def logits(self, x: torch.Tensor, idx: torch.Tensor | None = None) -> torch.Tensor:
        self.model.eval()
        out = self.model(x)
        if out.dim() != 2:
            raise DataError(f"{self.name} must return (n, k) logits, got shape {tuple(out.shape)}")
        if self.num_classes is None:
            self.num_classes = int(out.shape[1])
            if self._expected is not None:
                super().check_classes(self._expected)
        elif out.shape[1] != self.num_classes:
            raise DataError(
                f"{self.name} returned {out.shape[1]} logits per point, expected {self.num_classes}"
            )
        return check_finite_logits(out, self.name)
