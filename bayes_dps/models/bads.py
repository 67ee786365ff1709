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
the network is evaluated with ``torch.func.functional_call``, so the module itself stays a
normal, trainable PyTorch module. The weight-network variant replaces the latent ``w`` by
``w_i = sigmoid(g_φ(e_i))`` with ``φ`` latent (site ``phi.<name>``), the weight prior acting
as a penalty on the weights the network outputs.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro import poutine
from torch import nn
from torch.func import functional_call


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
    return -F.cross_entropy(functional_call(net, theta, (x,)), y, reduction="none")


def bads_model(
    net: nn.Module,
    x_t: torch.Tensor,
    y_t: torch.Tensor,
    x_m: torch.Tensor,
    y_m: torch.Tensor,
    *,
    weight_prior: dist.Distribution,
    lam: float = 1.0,
    rho_t: float | None = None,
    rho_m: float | None = None,
    batch_size_t: int | None = None,
    batch_size_m: int | None = None,
    weight_net: nn.Module | None = None,
    embeddings: torch.Tensor | None = None,
    lam_phi: float = 1.0,
) -> None:
    """The BADS joint; see the module docstring.

    Args:
        net: the classifier (its parameters are the latent ``θ``).
        x_t, y_t: ``D_t``; x_m, y_m: ``D_m``.
        weight_prior: ``p(w_i)`` on ``[0, 1]`` (scalar batch shape).
        lam: prior precision ``λ`` of ``θ``.
        rho_t, rho_m: impact constants (default ``N_t``, ``N_m``).
        batch_size_t, batch_size_m: minibatch sizes of the plates (``None`` = full data).
        weight_net, embeddings, lam_phi: the weight-network variant ``w = sigmoid(g_φ(e))``.
    """
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
    with (
        poutine.scale(scale=rho_t / n_t),
        pyro.plate("D_t", n_t, subsample_size=batch_size_t) as idx,
    ):
        ll_t = log_likelihood(net, theta, x_t[idx], y_t[idx])
        pyro.deterministic("loglik_t", ll_t.detach())
        pyro.factor("weighted_D_t", w[idx] * ll_t)
    with (
        poutine.scale(scale=rho_m / n_m),
        pyro.plate("D_m", n_m, subsample_size=batch_size_m) as jdx,
    ):
        logits_m = functional_call(net, theta, (x_m[jdx],))
        pyro.sample("y_m", dist.Categorical(logits=logits_m), obs=y_m[jdx])
