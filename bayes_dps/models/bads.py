"""The BADS graphical model (Xu et al. 2024, Fig. 1) as a Pyro model.

Evidence: uncurated training data ``D_t`` (``N_t`` points) and a curated meta set ``D_m``
(``N_m`` points). Latents: instance weights ``w ∈ [0, 1]^{N_t}`` and network parameters ``θ``.

    p(θ, w, D_t, D_m) = p(w) · p(θ | w, D_t) · p(D_m | θ)
    p(w)              = Π_i p(w_i)                       (default TruncatedNormal(β, σ) on [0, 1])
    p(θ | w, D_t)    ∝ p(θ) · Π_i p(z_i | θ)^{w_i},       p(θ) = N(0, λ⁻¹ I)
    p(D_m | θ)        = Π_j p(z_j | θ)

**Normaliser approximation.** The weighted-data-driven prior's normaliser
``Z(w) = ∫ p(θ) Π_i p(z_i|θ)^{w_i} dθ`` depends on ``w``; like the paper, the model treats it as
constant, so the log joint is ``log p(w) + log p(θ) + Σ_i w_i log p(z_i|θ) + Σ_j log p(z_j|θ)``
and ``p(w_i | θ) ∝ p(w_i) · exp(w_i log p(z_i|θ))`` — for the truncated-normal prior a truncated
normal with mean ``β + σ² log p(z_i|θ)`` (used by the exact Gibbs kernel).

**Minibatches and impact constants.** ``D_t`` and ``D_m`` are plates with ``subsample_size``;
inside ``poutine.scale(ρ/N)`` the plate's own ``N/B`` scaling makes each likelihood sum
``ρ_t · mean_{i∈B_t}`` and ``ρ_m · mean_{j∈B_m}``. ``ρ_t = N_t``, ``ρ_m = N_m`` (the defaults)
give the unbiased estimate of the full log joint.

``θ`` is sampled per parameter tensor of an ordinary ``nn.Module`` (site ``theta.<name>``) and
the network is evaluated through the model's :class:`~bayes_dps.models.likelihoods.Likelihood`
(``log p(z | θ)`` by ``torch.func.functional_call``), so the module itself stays a normal,
trainable PyTorch module and any likelihood — classifier, sequence-to-sequence, causal LM —
plugs in. The weight-network variant replaces the latent ``w`` by ``w_i = sigmoid(g_φ(e_i))``
with ``φ`` latent (site ``phi.<name>``), the weight prior acting as a penalty on the weights
the network outputs.

**Keeping the normaliser (``normaliser_weight`` γ > 0).** ``∂ log Z(w) / ∂w_i =
E_{p(θ'|w, D_t)}[log p(z_i | θ')]``. The model then has a second copy of the parameters,
``theta_aux.<name>`` (``θ'``), and two factors on the same minibatch of ``D_t``:

* ``aux_D_t = Σ_i stop_grad(w_i) · log p(z_i | θ')`` — with ``θ'``'s normal prior, a gradient
  field in ``θ'`` whose SG-MCMC moves target ``p(θ' | w, D_t)`` (``w`` held fixed);
* ``normaliser = −γ Σ_i w_i · stop_grad(log p(z_i | θ'))`` — whose gradient in ``w`` is the
  single-draw estimate of ``−γ ∂ log Z / ∂w_i``.

These are *gradient specifications*, not a normalised density: the value of the joint is not
``log p_γ`` (``log Z`` has no closed form), but every SG-MCMC kernel of the package — which
uses gradients only — run on this model samples ``(θ, w)`` from the model with the normaliser
weighted by ``γ`` (``θ'`` being an auxiliary chain). NUTS must not be run on it; the exact
references of the tests use closed-form ``log Z`` instead.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from torch import nn
from torch.func import functional_call

from bayes_dps.models.likelihoods import Classification, Likelihood


def sample_parameters(module: nn.Module, prefix: str, scale: float) -> dict[str, torch.Tensor]:
    """One ``Normal(0, scale²)`` site per parameter tensor of ``module``."""
    return {
        name: pyro.sample(
            f"{prefix}.{name}",
            dist.Normal(torch.zeros_like(p), scale).to_event(p.dim()),
        )
        for name, p in module.named_parameters()
    }


def log_likelihood(net: nn.Module, theta: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-point ``log p(y | x, θ)`` of a softmax classifier."""
    return Classification()(net, x, y, params=theta).values


def bads_model(
    net: nn.Module,
    x_t: torch.Tensor,
    y_t: torch.Tensor,
    x_m: torch.Tensor,
    y_m: torch.Tensor,
    *,
    weight_prior: dist.Distribution,
    likelihood: Likelihood | None = None,
    lam: float = 1.0,
    rho_t: float | None = None,
    rho_m: float | None = None,
    batch_size_t: int | None = None,
    batch_size_m: int | None = None,
    weight_net: nn.Module | None = None,
    embeddings: torch.Tensor | None = None,
    lam_phi: float = 1.0,
    normaliser_weight: float = 0.0,
) -> None:
    """The BADS joint; see the module docstring.

    Args:
        net: the network (its trainable parameters are the latent ``θ``).
        x_t, y_t: ``D_t``; x_m, y_m: ``D_m``.
        weight_prior: ``p(w_i)`` on ``[0, 1]`` (scalar batch shape).
        likelihood: ``log p(z | θ)`` (default: softmax classification).
        lam: prior precision ``λ`` of ``θ`` (and ``θ'``).
        rho_t, rho_m: impact constants (default ``N_t``, ``N_m``).
        batch_size_t, batch_size_m: minibatch sizes of the plates (``None`` = full data).
        weight_net, embeddings, lam_phi: the weight-network variant ``w = sigmoid(g_φ(e))``.
        normaliser_weight: ``γ``; above 0 the auxiliary ``θ'`` and its factors are added.
    """
    lik = likelihood or Classification()
    n_t, n_m = len(y_t), len(y_m)
    rho_t = float(n_t if rho_t is None else rho_t)
    rho_m = float(n_m if rho_m is None else rho_m)
    theta = sample_parameters(net, "theta", lam**-0.5)
    if weight_net is None:
        with pyro.plate("instances", n_t):
            w = pyro.sample("w", weight_prior)
    else:
        phi = sample_parameters(weight_net, "phi", lam_phi**-0.5)
        w = torch.sigmoid(functional_call(weight_net, phi, (embeddings,))).reshape(-1)
        with pyro.plate("instances", n_t):
            pyro.factor("w_prior", weight_prior.log_prob(w.clamp(1e-6, 1 - 1e-6)))
    theta_aux = sample_parameters(net, "theta_aux", lam**-0.5) if normaliser_weight > 0 else None
    with (
        poutine.scale(scale=rho_t / n_t),
        pyro.plate("D_t", n_t, subsample_size=batch_size_t) as idx,
    ):
        ll_t = lik(net, x_t[idx], y_t[idx], params=theta).values
        pyro.deterministic("loglik_t", ll_t.detach())
        pyro.factor("weighted_D_t", w[idx] * ll_t)
        if theta_aux is not None:
            ll_aux = lik(net, x_t[idx], y_t[idx], params=theta_aux).values
            pyro.deterministic("loglik_t_aux", ll_aux.detach())
            pyro.factor("aux_D_t", w[idx].detach() * ll_aux)
            pyro.factor("normaliser", -normaliser_weight * w[idx] * ll_aux.detach())
    with (
        poutine.scale(scale=rho_m / n_m),
        pyro.plate("D_m", n_m, subsample_size=batch_size_m) as jdx,
    ):
        pyro.factor("loglik_D_m", lik(net, x_m[jdx], y_m[jdx], params=theta).values)
