"""Exact Gibbs draw of the instance weights ``w`` given ``θ`` (BADS, truncated-normal prior).

The BADS log joint is linear in each ``w_i`` apart from its prior: with the normaliser of the
weighted-data prior treated as constant,

    p(w_i | θ, D) ∝ N(w_i; β, σ²) · exp(g_i · w_i) · 1[0 ≤ w_i ≤ 1],   g_i = s · ℓ_i

(``ℓ_i = log p(z_i | θ)``, ``s`` the likelihood's scale — ``ρ_w`` in the sampler, ``ρ_t / N_t``
in the Pyro model), which is ``TruncatedNormal(β + σ² g_i, σ)`` on ``[0, 1]``. With the
normaliser weighted by ``γ``, ``ℓ_i`` becomes the drift ``ℓ_i − γ log p(z_i | θ')``.

:class:`GibbsTruncatedNormal` has the shape of the other algorithms: ``grad_fn`` gives the
drift ``ℓ_i`` (``scale · ℓ_i`` is the gradient of the log joint without the prior — constant
in ``w``, the coefficient of the linear term), and the draw uses one uniform per weight
(``rng``, or ``noise``), by the inverse CDF in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bayes_dps.inference.sgmcmc.base import SGMCMC
from bayes_dps.models.priors import TruncatedNormal


def weight_conditional(
    beta: torch.Tensor | float,
    sigma: torch.Tensor | float,
    loglik: torch.Tensor,
    scale: float = 1.0,
    validate_args: bool | None = None,
) -> TruncatedNormal:
    """``p(w_i | θ)`` for a ``TruncatedNormal(β, σ)`` prior and log-likelihoods ``ℓ_i``
    (``validate_args=False`` in loops: the check reads the parameters back to the host)."""
    sigma = torch.as_tensor(sigma, dtype=loglik.dtype)
    return TruncatedNormal(
        beta + sigma**2 * scale * loglik, sigma.expand_as(loglik), validate_args=validate_args
    )


@dataclass(frozen=True)
class GibbsTruncatedNormal(SGMCMC):
    """The exact conditional draw of weights with a ``TruncatedNormal(beta, sigma)`` prior
    (module docstring). ``step_size`` and ``temperature`` are not used (an exact draw needs
    neither); they keep the algorithms' common shape."""

    step_size: float = 0.0
    beta: float | torch.Tensor = 0.5
    sigma: float | torch.Tensor = 1.0
    scale: float = 1.0

    def draw(self, shape, like, rng):
        return torch.rand(shape, generator=rng, device=like.device, dtype=torch.float64)

    def step(self, value, grad, buffer, noise):
        cond = weight_conditional(self.beta, self.sigma, grad, self.scale, validate_args=False)
        return cond.icdf(noise).to(value.dtype), None
