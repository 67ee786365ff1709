"""Gradient-norm rules (Katharopoulos & Fleuret 2018), on the last layer.

For a linear head with cross-entropy, the gradient w.r.t. the head's weights (bias included)
is ``g h̃ᵀ`` with ``g = softmax(f) − onehot(y)``, so its Frobenius norm is ``‖g‖·‖h̃‖``.

* ``grad_norm`` — the ``n_b`` largest norms.
* ``grad_norm_is`` — ``n_b`` draws with replacement with ``p_i ∝ ‖g_i‖‖h̃_i‖``, each loss
  weighted by ``1 / (n_B p_i)`` so the weighted mean is unbiased for the mean over ``B_t``.
"""

from __future__ import annotations

import torch

from bayes_dps.inference.kfac_laplace import with_bias
from bayes_dps.selection.base import BigBatch, Selection
from bayes_dps.selection.rng import DeviceGenerator
from bayes_dps.selection.scored import ScoredSelection, require_logits


def last_layer_grad_norm(batch: BigBatch) -> torch.Tensor:
    logits = require_logits(batch, "grad_norm")
    if batch.features is None:
        raise ValueError("grad_norm needs the model's features on B_t")
    g = torch.softmax(logits.float(), dim=1)
    g[torch.arange(len(g), device=g.device), batch.y] -= 1.0
    return g.norm(dim=1) * with_bias(batch.features.float()).norm(dim=1)


class GradNormSelection(ScoredSelection):
    name = "grad_norm"

    def scores(self, batch: BigBatch) -> torch.Tensor:
        return last_layer_grad_norm(batch)


class GradNormISSelection(ScoredSelection):
    name = "grad_norm_is"

    def __init__(self, seed: int = 0) -> None:
        self.rng = DeviceGenerator(seed)

    def scores(self, batch: BigBatch) -> torch.Tensor:
        return last_layer_grad_norm(batch)

    def select(self, batch: BigBatch, n_b: int) -> Selection:
        s = super().select(batch, n_b).scores
        p = (s + 1e-12) / (s + 1e-12).sum()
        pos = torch.multinomial(p, n_b, replacement=True, generator=self.rng.on(p.device))
        return Selection(positions=pos, weights=1.0 / (len(p) * p[pos]), scores=s)

    def state_dict(self) -> dict:
        return {"rng": self.rng.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.load_state_dict(state["rng"])
