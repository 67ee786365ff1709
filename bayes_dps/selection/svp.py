"""``svp`` — Selection via Proxy (Coleman et al. 2020), core-set variant.

A small proxy model is trained once on ``D_t`` (uniform minibatches); at every step the points
of ``B_t`` on which the proxy's predictive entropy is highest are selected. The proxy's
logits are computed once per training index, so a step costs no forward pass.
"""

from __future__ import annotations

import torch

from bayes_dps.selection.base import BigBatch
from bayes_dps.selection.predictors.base import Predictor
from bayes_dps.selection.scored import ScoredSelection


class SVPSelection(ScoredSelection):
    name = "svp"
    needs_forward = False

    def __init__(self, proxy: Predictor) -> None:
        self.proxy = proxy

    def scores(self, batch: BigBatch) -> torch.Tensor:
        logp = torch.log_softmax(self.proxy.logits(batch.x, batch.idx).float(), dim=1)
        return -(logp.exp() * logp).sum(1)
