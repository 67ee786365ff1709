"""``bayesian`` — Deng et al. (2023), Eq. 16, with the last-layer KFAC Laplace posterior.

For every ``(x, y) ∈ B_t``:

    score = α · (1/S) Σ_s log p(y | f_x^(s))          expected log-likelihood under q(f_x)
          + (1 − α) · log p(y | f̃(x))                zero-shot / validation predictor (Eq. 10)
          − log (1/S) Σ_s p(y | f_x^(s))              log posterior predictive (logsumexp)

with ``f_x^(s) ~ q(f_x | D_{t−1})`` (Eq. 15). The top ``n_b`` form ``b_t``; after the optimiser
step, the posterior's Kronecker factors are refreshed from ``b_t``'s features and softmax
gradients at ``θ_{t−1}`` (taken from the training forward pass, so they cost nothing extra).
``adaptive_alpha`` (the authors' code) sets ``α = L_zs / (L_model + L_zs)`` per step from the
big batch's mean losses of the zero-shot predictor and of the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bayes_dps.checks import Bool, Float, Int, setting
from bayes_dps.inference.kfac_laplace import LaplaceSettings, LastLayerKFACLaplace
from bayes_dps.models.likelihoods import upcast
from bayes_dps.selection.base import BigBatch, Selection
from bayes_dps.selection.predictors.base import Predictor
from bayes_dps.selection.rng import DeviceGenerator
from bayes_dps.selection.scored import ScoredSelection, cross_entropy, require_logits


@dataclass(frozen=True)
class BayesianSettings(LaplaceSettings):
    """Every setting of the ``bayesian`` rule: the posterior's (``LaplaceSettings``) and the
    score's."""

    alpha: float = setting(0.3, Float(0, 1), "`α ∈ [0, 1]` of Eq. 16 (paper: from {0.1, …, 0.4})")
    num_samples: int = setting(100, Int(1, 10_000), "Monte-Carlo draws `S` of `f_x`")
    adaptive_alpha: bool = setting(
        False, Bool(), "`α = L_zs / (L_model + L_zs)` per step (authors' code)"
    )


def bayesian_scores(
    samples: torch.Tensor, zero_shot_logits: torch.Tensor, y: torch.Tensor, alpha: float
) -> torch.Tensor:
    """Eq. 16 from ``(S, n, k)`` posterior draws, ``(n, k)`` zero-shot logits and labels."""
    S = samples.shape[0]
    # classes first: (k, S, n), contiguous for the draws of KronPredictive.sample, so the
    # log-softmax reduces over the outermost axis (faster here than f_y − logsumexp)
    logp = torch.log_softmax(upcast(samples).permute(2, 0, 1), dim=0)
    logp_y = logp.gather(0, y.expand(S, -1)[None])[0]  # (S, n)
    expected_loglik = logp_y.mean(0)
    log_predictive = torch.logsumexp(logp_y, dim=0) - math.log(S)
    zero_shot = -cross_entropy(zero_shot_logits, y)
    return alpha * expected_loglik + (1 - alpha) * zero_shot - log_predictive


class BayesianSelection(ScoredSelection):
    """Online Bayesian batch selection.

    Args:
        posterior: the last-layer KFAC Laplace posterior (updated by this rule).
        predictor: the zero-shot / validation predictor ``f̃``.
        alpha: trade-off ``α ∈ [0, 1]`` of Eq. 8.
        num_samples: ``S`` Monte-Carlo draws of ``f_x``.
        adaptive_alpha: recompute ``α`` each step from the losses (overrides ``alpha``).
        seed: seed of the Monte-Carlo draws.
    """

    name = "bayesian"

    def __init__(
        self,
        posterior: LastLayerKFACLaplace,
        predictor: Predictor,
        *,
        alpha: float = BayesianSettings.alpha,
        num_samples: int = BayesianSettings.num_samples,
        adaptive_alpha: bool = BayesianSettings.adaptive_alpha,
        seed: int = 0,
    ) -> None:
        checked = BayesianSettings(
            alpha=alpha, num_samples=num_samples, adaptive_alpha=adaptive_alpha
        )
        self.posterior = posterior
        self.predictor = predictor
        self.alpha = checked.alpha
        self.num_samples = checked.num_samples
        self.adaptive_alpha = checked.adaptive_alpha
        self.rng = DeviceGenerator(seed)
        self.last_alpha = self.alpha

    def scores(self, batch: BigBatch) -> torch.Tensor:
        logits = require_logits(batch, self.name)
        if batch.features is None:
            raise ValueError("bayesian selection needs the model's features on B_t")
        predictive = self.posterior.predictive(batch.features, logits, check=self.check_finite)
        samples = predictive.sample(self.num_samples, generator=self.rng.on(logits.device))
        zs = self.predictor.logits(batch.x, batch.idx)
        alpha = self.alpha
        if self.adaptive_alpha:
            zs_loss = cross_entropy(zs, batch.y).mean()
            model_loss = cross_entropy(logits, batch.y).mean()
            alpha = float(zs_loss / (model_loss + zs_loss).clamp_min(1e-12))
        self.last_alpha = alpha
        return bayesian_scores(samples, zs, batch.y, alpha)

    def update(self, batch: BigBatch, selection: Selection) -> None:
        self.posterior.update(batch.features, batch.logits, batch.y)

    def state_dict(self) -> dict:
        return {"posterior": self.posterior.state_dict(), "rng": self.rng.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.posterior.load_state_dict(state["posterior"])
        self.rng.load_state_dict(state["rng"])
