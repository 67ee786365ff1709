"""``bayesian`` — Deng et al. (2023), Eq. 16, with the last-layer KFAC Laplace posterior.

For every ``(x, y) ∈ B_t``:

    score = α · E_q[log p(y | f_x)]               expected log-likelihood under q(f_x)
          + (1 − α) · log p(y | f̃(x))            zero-shot / validation predictor (Eq. 10)
          − log E_q[p(y | f_x)]                   log posterior predictive

with ``q(f_x | D_{t−1}) = N(f_θ(x), s_x U⁻¹)`` (Eq. 15). ``estimator``: ``mc`` averages
``S`` draws ``f_x^(s)`` (the paper's form: ``(1/S) Σ_s log p(y | f^(s))`` and
``log (1/S) Σ_s p(y | f^(s))`` by logsumexp — exact as ``S → ∞``, the reference);
``deterministic`` computes both terms in closed form from ``μ``, ``s`` and ``C = U⁻¹``
(``inference.gaussian_softmax``: the delta method for the first, ``log_predictive`` —
unscented by default — for the second), with no draws. The top ``n_b`` form ``b_t``; after the
optimiser step, the posterior's Kronecker factors are refreshed from ``b_t``'s features and
softmax gradients at ``θ_{t−1}`` (taken from the training forward pass, so they cost nothing
extra). ``adaptive_alpha`` (the authors' code) sets ``α = L_zs / (L_model + L_zs)`` per step
from the big batch's mean losses of the zero-shot predictor and of the model (a tensor: no
host synchronisation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bayes_dps.checks import Bool, Choice, Float, Int, setting
from bayes_dps.inference.gaussian_softmax import LOG_PREDICTIVE
from bayes_dps.inference.kfac_laplace import LaplaceSettings, LastLayerKFACLaplace
from bayes_dps.inference.kron_predictive import KronPredictive
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
    estimator: str = setting(
        "deterministic",
        Choice(("deterministic", "mc")),
        "Eq. 16's posterior terms in closed form (`deterministic`) or from `S` draws (`mc`)",
    )
    log_predictive: str = setting(
        "probit",
        Choice(LOG_PREDICTIVE),
        "`deterministic`: the approximation of `log E[softmax(f)_y]` (`unscented`, "
        "`mean_field`, `probit`, `delta`)",
    )
    num_samples: int = setting(100, Int(1, 10_000), "`mc`: draws `S` of `f_x`")
    adaptive_alpha: bool = setting(
        False, Bool(), "`α = L_zs / (L_model + L_zs)` per step (authors' code)"
    )


def mc_terms(samples: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(1/S) Σ_s log p(y | f^(s))`` and ``log (1/S) Σ_s p(y | f^(s))`` from ``(S, n, k)``
    draws."""
    S = samples.shape[0]
    # classes first: (k, S, n), contiguous for the draws of KronPredictive.sample, so the
    # log-softmax reduces over the outermost axis (faster here than f_y − logsumexp)
    logp = torch.log_softmax(upcast(samples).permute(2, 0, 1), dim=0)
    logp_y = logp.gather(0, y.expand(S, -1)[None])[0]  # (S, n)
    return logp_y.mean(0), torch.logsumexp(logp_y, dim=0) - math.log(S)


def eq16(
    expected_loglik: torch.Tensor,
    zero_shot_logits: torch.Tensor,
    y: torch.Tensor,
    log_predictive: torch.Tensor,
    alpha: float | torch.Tensor,
) -> torch.Tensor:
    """Eq. 16 from its posterior terms, the zero-shot logits and the labels."""
    zero_shot = -cross_entropy(zero_shot_logits, y)
    return alpha * expected_loglik + (1 - alpha) * zero_shot - log_predictive


def bayesian_scores(
    samples: torch.Tensor, zero_shot_logits: torch.Tensor, y: torch.Tensor, alpha: float
) -> torch.Tensor:
    """Eq. 16 from ``(S, n, k)`` posterior draws, ``(n, k)`` zero-shot logits and labels."""
    expected_loglik, log_predictive = mc_terms(samples, y)
    return eq16(expected_loglik, zero_shot_logits, y, log_predictive, alpha)


def deterministic_scores(
    predictive: KronPredictive,
    zero_shot_logits: torch.Tensor,
    y: torch.Tensor,
    alpha: float | torch.Tensor,
    log_predictive: str = BayesianSettings.log_predictive,
) -> torch.Tensor:
    """Eq. 16 in closed form from the predictive ``N(μ, s·U⁻¹)`` (no draws)."""
    expected_loglik, log_pred = predictive.terms(y, log_predictive)
    return eq16(expected_loglik, zero_shot_logits, y, log_pred, alpha)


class BayesianSelection(ScoredSelection):
    """Online Bayesian batch selection.

    Args:
        posterior: the last-layer KFAC Laplace posterior (updated by this rule).
        predictor: the zero-shot / validation predictor ``f̃``.
        alpha: trade-off ``α ∈ [0, 1]`` of Eq. 8.
        estimator: ``deterministic`` (closed form) or ``mc`` (module docstring).
        log_predictive: the closed form of the log predictive (``deterministic``).
        num_samples: ``S`` Monte-Carlo draws of ``f_x`` (``mc``).
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
        estimator: str = BayesianSettings.estimator,
        log_predictive: str = BayesianSettings.log_predictive,
        num_samples: int = BayesianSettings.num_samples,
        adaptive_alpha: bool = BayesianSettings.adaptive_alpha,
        seed: int = 0,
    ) -> None:
        checked = BayesianSettings(
            alpha=alpha, estimator=estimator, log_predictive=log_predictive,
            num_samples=num_samples, adaptive_alpha=adaptive_alpha,
        )  # fmt: skip
        self.posterior = posterior
        self.predictor = predictor
        self.alpha = checked.alpha
        self.estimator, self.log_predictive = checked.estimator, checked.log_predictive
        self.num_samples = checked.num_samples
        self.adaptive_alpha = checked.adaptive_alpha
        self.rng = DeviceGenerator(seed)
        self.last_alpha: float | torch.Tensor = self.alpha
        self._terms: tuple | None = None
        self._term_sums: torch.Tensor | None = None
        self._term_count = 0

    def scores(self, batch: BigBatch) -> torch.Tensor:
        logits = require_logits(batch, self.name)
        if batch.features is None:
            raise ValueError("bayesian selection needs the model's features on B_t")
        predictive = self.posterior.predictive(batch.features, logits, check=self.check_finite)
        zs = self.predictor.logits(batch.x, batch.idx)
        alpha: float | torch.Tensor = self.alpha
        if self.adaptive_alpha:  # a 0-d tensor: no host sync
            zs_loss = cross_entropy(zs, batch.y).mean()
            model_loss = cross_entropy(logits, batch.y).mean()
            alpha = zs_loss / (model_loss + zs_loss).clamp_min(1e-12)
        self.last_alpha = alpha
        if self.estimator == "deterministic":
            expected_loglik, log_pred = predictive.terms(batch.y, self.log_predictive)
        else:
            samples = predictive.sample(self.num_samples, generator=self.rng.on(logits.device))
            expected_loglik, log_pred = mc_terms(samples, batch.y)
        # Eq. 16's three summands, kept for the epoch's statistics of the selected set
        model = alpha * expected_loglik
        zero_shot = (1 - alpha) * -cross_entropy(zs, batch.y)
        self._terms = (model, zero_shot, log_pred)
        return model + zero_shot - log_pred

    def update(self, batch: BigBatch, selection: Selection) -> None:
        self._count_terms(selection)
        self.posterior.update(batch.features, batch.logits, batch.y)

    def _count_terms(self, selection: Selection) -> None:
        """Add the selected points' three summands of Eq. 16 to the epoch's sums (on the
        device: no host synchronisation)."""
        if self._terms is None:
            return
        model, zero_shot, log_pred = self._terms
        pos = selection.positions
        picked = torch.stack([model[pos], zero_shot[pos], -log_pred[pos]]).sum(1).detach()
        self._term_sums = picked if self._term_sums is None else self._term_sums + picked
        self._term_count += len(pos)
        self._terms = None

    def epoch_stats(self) -> dict[str, float]:
        """The mean of each summand of Eq. 16 over the points selected since the last call:
        ``model`` (``α·E_q log p(y|f)``), ``predictor`` (``(1−α)·log p(y|f̃)``) and
        ``log_predictive`` (``−log E_q p(y|f)``) — which term drives the selection."""
        if self._term_sums is None:
            return {}
        means = (self._term_sums / max(self._term_count, 1)).tolist()
        self._term_sums, self._term_count = None, 0
        return dict(zip(("model", "predictor", "log_predictive"), means, strict=True))

    def state_dict(self) -> dict:
        return {"posterior": self.posterior.state_dict(), "rng": self.rng.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.posterior.load_state_dict(state["posterior"])
        self.rng.load_state_dict(state["rng"])
