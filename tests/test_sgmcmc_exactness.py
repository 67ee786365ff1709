"""The SG-MCMC update rules against closed forms on a Gaussian target, and the BADS sampler's
impact constants against a hand computation of its minibatch log joint.

On ``N(μ, s²)`` with exact gradients, SGLD ``z ← z + (η/2)∇ log p + √(ηT) ε`` is the AR(1)
process ``z − μ ← a (z − μ) + √(ηT) ε`` with ``a = 1 − η/(2s²)``: its stationary variance is
``ηT / (1 − a²) = T s² / (1 − η/(4s²))`` — exactly, discretisation bias included. SGHMC's
momentum form is a linear system in ``(z, v)`` whose stationary covariance solves a discrete
Lyapunov equation (scipy). 20 000 independent chains estimate the variance to about 1%, so a
kernel whose noise variance is off by 30% (or that forgets the temperature) fails by a wide
margin.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.linalg import solve_discrete_lyapunov

from bayes_dps import BADSSampler, truncated_normal
from bayes_dps.inference import sghmc_update, sgld_update
from bayes_dps.models import build_model

CHAINS, BURN = 20_000, 400
MU, S2 = 1.5, 0.8


def gaussian_grad(z: torch.Tensor) -> torch.Tensor:
    return -(z - MU) / S2


@pytest.mark.parametrize(("eta", "temperature"), [(0.2, 1.0), (0.05, 1.0), (0.2, 0.25)])
def test_sgld_stationary_variance_is_the_closed_form(eta, temperature):
    torch.manual_seed(0)
    z = torch.zeros(CHAINS, dtype=torch.float64)
    draws = []
    for t in range(BURN + 200):
        z = sgld_update(z, gaussian_grad(z), eta, temperature)
        if t >= BURN and t % 50 == 0:
            draws.append(z.clone())
    draws = torch.stack(draws)
    exact = temperature * S2 / (1 - eta / (4 * S2))
    assert draws.mean().item() == pytest.approx(MU, abs=4 * math.sqrt(exact / draws.numel()))
    assert draws.var().item() == pytest.approx(exact, rel=0.04)


@pytest.mark.parametrize(("eta", "friction", "temperature"), [(0.05, 0.1, 1.0), (0.02, 0.3, 0.5)])
def test_sghmc_stationary_variance_solves_the_lyapunov_equation(eta, friction, temperature):
    # (z, v) ← A (z, v) + B ξ with ξ ~ N(0, 2αηT), centred at μ
    A = np.array([[1 - eta / S2, 1 - friction], [-eta / S2, 1 - friction]])
    B = np.array([[1.0], [1.0]])
    cov = solve_discrete_lyapunov(A, B @ B.T * 2 * friction * eta * temperature)
    torch.manual_seed(1)
    z = torch.zeros(CHAINS, dtype=torch.float64)
    v = None
    draws = []
    for t in range(4 * BURN + 400):
        z, v = sghmc_update(z, gaussian_grad(z), v, eta, friction=friction, temperature=temperature)
        if t >= 4 * BURN and t % 100 == 0:
            draws.append(z.clone())
    draws = torch.stack(draws)
    assert draws.mean().item() == pytest.approx(MU, abs=4 * math.sqrt(cov[0, 0] / draws.numel()))
    assert draws.var().item() == pytest.approx(cov[0, 0], rel=0.05)


def test_impact_constants_default_to_the_dataset_sizes_in_the_theta_step():
    """ρ_t = N_t and ρ_m = N_m by default: one SGLD step at temperature 0 moves θ by
    (η/2)∇[−½λ‖θ‖² + N_t·mean_B(w ℓ) + N_m·mean_M(ℓ)], computed here by hand."""
    torch.manual_seed(2)
    n_t, n_m, eta, lam = 400, 30, 1e-5, 0.01
    model = build_model("mlp", (4,), 3, {"hidden": [5]})
    sampler = BADSSampler(
        model, n_t, n_m, prior=truncated_normal(0.5, 1.0), lam=lam, eta_theta=eta,
        temperature=0.0, init_w=0.3,
    )  # fmt: skip
    assert sampler.rho_t == n_t and sampler.rho_m == n_m
    x_t, y_t, idx = torch.randn(8, 4), torch.randint(0, 3, (8,)), torch.arange(8) * 7
    x_m, y_m = torch.randn(5, 4), torch.randint(0, 3, (5,))
    params = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
    names = [n for n, _ in model.named_parameters()]
    logits = torch.func.functional_call(
        model, dict(zip(names, params, strict=True)), (torch.cat([x_t, x_m]),)
    )
    ll = -F.cross_entropy(logits, torch.cat([y_t, y_m]), reduction="none")
    joint = (
        -0.5 * lam * sum((p**2).sum() for p in params)
        + n_t * (0.3 * ll[:8]).mean()
        + n_m * ll[8:].mean()
    )
    grads = torch.autograd.grad(joint, params)
    sampler.step((x_t, y_t, idx), (x_m, y_m, torch.arange(5)))
    for p, p0, g in zip(model.parameters(), params, grads, strict=True):
        assert torch.allclose(p.detach(), p0.detach() + 0.5 * eta * g, rtol=1e-5, atol=1e-8)
