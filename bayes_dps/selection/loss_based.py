"""Loss-based rules (Table 1 baselines).

* ``train_loss`` — largest training loss ``L[y|x; D_t]`` (Loshchilov & Hutter 2015; Kawaguchi &
  Lu 2020).
* ``irreducible_loss`` — smallest loss of a validation model ``L[y|x; D_ho]``.
* ``rho_loss`` — largest reducible holdout loss ``L[y|x; D_t] − L[y|x; D_ho]`` (Mindermann et
  al. 2022); with a zero-shot predictor as the validation model it is the paper's Table 7
  baseline.
"""

from __future__ import annotations

import torch

from bayes_dps.selection.base import BigBatch
from bayes_dps.selection.predictors.base import Predictor
from bayes_dps.selection.scored import ScoredSelection, cross_entropy, require_logits


class TrainLossSelection(ScoredSelection):
    name = "train_loss"

    def scores(self, batch: BigBatch) -> torch.Tensor:
        return cross_entropy(require_logits(batch, self.name), batch.y)


class IrreducibleLossSelection(ScoredSelection):
    """Smallest validation-model loss first (no forward pass of the trained model needed)."""

    name = "irreducible_loss"
    needs_forward = False

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor

    def scores(self, batch: BigBatch) -> torch.Tensor:
        return -cross_entropy(self.predictor.logits(batch.x, batch.idx), batch.y)


class RhoLossSelection(ScoredSelection):
    """``L[y|x; D_t] − L[y|x; D_ho]``, the validation model being any :class:`Predictor`."""

    name = "rho_loss"

    def __init__(self, predictor: Predictor, name: str = "rho_loss") -> None:
        self.predictor = predictor
        self.name = name

    def scores(self, batch: BigBatch) -> torch.Tensor:
        train_loss = cross_entropy(require_logits(batch, self.name), batch.y)
        return train_loss - cross_entropy(self.predictor.logits(batch.x, batch.idx), batch.y)
