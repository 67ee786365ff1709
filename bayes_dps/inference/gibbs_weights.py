"""Exact Gibbs update of the instance weights ``w`` given ``θ`` (BADS, truncated-normal prior).

With the normaliser of the weighted-data prior treated as constant,

    p(w_i | θ, D) ∝ N(w_i; β, σ²) · exp(s · w_i · ℓ_i) · 1[0 ≤ w_i ≤ 1],   ℓ_i = log p(z_i | θ)

which is ``TruncatedNormal(β + σ² s ℓ_i, σ)`` on ``[0, 1]`` (``s``: the likelihood's scale,
``ρ_t / N_t`` in the model). With the normaliser weighted by ``γ`` (the model's
``normaliser_weight``), ``ℓ_i`` becomes the drift ``ℓ_i − γ log p(z_i | θ')`` with ``θ'`` the
auxiliary chain's current state: ``TruncatedNormal(β + σ² s (ℓ_i − γ ℓ_i(θ')), σ)``.
:class:`GibbsWeights` alternates one SG-MCMC step on every other
latent site with this exact draw for ``w``.
"""

from __future__ import annotations

import torch
from pyro import poutine

from bayes_dps.errors import ConfigError
from bayes_dps.inference.sgld import SGLD
from bayes_dps.inference.sgmcmc_kernel import SGMCMCKernel
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


class GibbsWeights(SGMCMCKernel):
    """SG-MCMC (``inner``, default SGLD) for ``θ`` and other sites, exact Gibbs for ``w``.

    The model must have a latent site ``w`` with a ``TruncatedNormal`` prior and record the
    per-point log-likelihoods in a deterministic site ``loglik_t`` (as
    :func:`bayes_dps.models.bads.bads_model` does); the full-data log-likelihoods come from a
    trace with ``batch_size_t=None``.
    """

    def __init__(
        self,
        model,
        step_size=1e-3,
        step_sizes=None,
        temperature=1.0,
        inner: SGMCMCKernel | None = None,
        weight_site: str = "w",
    ):
        super().__init__(model, step_size, step_sizes, temperature)
        self.inner = inner or SGLD(model, step_size, step_sizes, temperature)
        self.weight_site = weight_site

    def setup(self, warmup_steps, *args, **kwargs):
        super().setup(warmup_steps, *args, **kwargs)
        self.inner.setup(warmup_steps, *args, **kwargs)
        trace = poutine.trace(self.model).get_trace(*args, **kwargs)
        prior = trace.nodes[self.weight_site]["fn"]
        if not isinstance(prior, TruncatedNormal):
            raise ConfigError(
                f"exact Gibbs for w needs a TruncatedNormal prior, got {type(prior).__name__}; "
                "use an SG-MCMC kernel for other priors"
            )
        self.prior = prior

    def reset_state(self):
        if hasattr(self, "inner"):
            self.inner.reset_state()

    def sample(self, params):
        others = {k: v for k, v in params.items() if k != self.weight_site}
        log_joint, grads = self.log_joint_and_grad(params)
        self.last_log_joint = log_joint
        self.num_steps += 1
        new = {
            k: self.inner.update(k, v.detach(), grads[k], self.step_for(k))
            for k, v in others.items()
        }
        values = {k: self.transforms[k].inv(v) for k, v in new.items()}
        full_kwargs = {**self._kwargs, "batch_size_t": None}
        trace = poutine.trace(poutine.condition(self.model, data=values)).get_trace(
            *self._args, **full_kwargs
        )
        loglik = trace.nodes["loglik_t"]["value"]
        if "loglik_t_aux" in trace.nodes:  # the normaliser's estimate: ℓ_i − γ ℓ_i(θ')
            gamma = self._kwargs.get("normaliser_weight", 0.0)
            loglik = loglik - gamma * trace.nodes["loglik_t_aux"]["value"]
        scale = trace.nodes["weighted_D_t"]["scale"]
        w = weight_conditional(self.prior.loc, self.prior.scale, loglik, scale).sample()
        new[self.weight_site] = self.transforms[self.weight_site](w)
        return new
