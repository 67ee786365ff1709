"""The logit-space Langevin move of ``w`` samples the *tempered* conditional: with a
truncated-normal prior ``TN(β, σ)`` on ``[0, 1]`` and a fixed drift ``d``, the target at
temperature ``T`` is ``[p(w) exp(ρ_w w d)]^{1/T} ∝ TN(β + σ² ρ_w d, σ√T)`` on ``[0, 1]``,
whose mean is closed-form (scipy's ``truncnorm``). Each case runs many independent chains
(instances) with the same drift and compares their mean after burn-in with that mean."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import truncnorm

from bayes_dps.inference.bads.weights import LangevinWeights
from bayes_dps.inference.sgmcmc import PSGLD, SGLD
from bayes_dps.models.priors import build_weight_prior

BETA, SIGMA = 0.5, 1.0


def tempered_mean(drift: float, rho: float, temperature: float) -> float:
    loc, scale = BETA + SIGMA**2 * rho * drift, SIGMA * math.sqrt(temperature)
    a, b = (0.0 - loc) / scale, (1.0 - loc) / scale
    return float(truncnorm.mean(a, b, loc=loc, scale=scale))


def chain_mean(algorithm, drift: float, rho: float, steps: int, n: int = 4000) -> float:
    prior = build_weight_prior({"name": "truncated_normal", "beta": BETA, "sigma": SIGMA})
    weights = LangevinWeights(n, 0.5, prior, algorithm, rho)
    idx = torch.arange(n)
    d = torch.full((n,), drift)
    g = torch.Generator().manual_seed(0)
    total, kept = torch.zeros(n), 0
    for s in range(steps):
        weights.move(idx, d, None, None, n, g)
        if s >= steps // 2:
            total += weights.w
            kept += 1
    return float((total / kept).mean())


@pytest.mark.parametrize(
    "temperature, step, drift, rho, tol",
    [
        (1e-4, 0.2, -0.1, 1.0, 0.004),  # the configs' T: sd 0.01 about 0.400
        (0.05, 1.0, -0.1, 1.0, 0.01),  # a warm chain: the truncation at 0 and 1 matters
        (1e-4, 1.0, -0.03, 10.0, 0.004),  # ρ_w = 10, the configs' impact constant
    ],
)
def test_sgld_weights_sample_the_tempered_truncated_normal(temperature, step, drift, rho, tol):
    expected = tempered_mean(drift, rho, temperature)
    got = chain_mean(SGLD(step_size=step, temperature=temperature), drift, rho, steps=3000)
    assert got == pytest.approx(expected, abs=tol), (got, expected)


def test_psgld_weights_sample_the_tempered_truncated_normal():
    temperature, drift = 1e-4, -0.1
    expected = tempered_mean(drift, 1.0, temperature)
    got = chain_mean(PSGLD(step_size=0.01, temperature=temperature), drift, 1.0, steps=3000)
    assert got == pytest.approx(expected, abs=0.006), (got, expected)


def test_the_untempered_jacobian_would_sit_at_the_logit_space_mode():
    """The closed form the bug gives, so that the tolerance above separates the two: the
    density ``TN(0.4, 0.01) · |w(1−w)|^{1/T−1}`` peaks near 0.489, not 0.400."""
    w = torch.linspace(0.30, 0.60, 300_001, dtype=torch.float64)
    t = 1e-4
    log_density = -((w - 0.4) ** 2) / (2 * t) + (1 / t - 1) * torch.log(w * (1 - w))
    mode = float(w[torch.argmax(log_density)])
    assert abs(mode - 0.489) < 0.005
    assert abs(mode - tempered_mean(-0.1, 1.0, t)) > 0.05


def test_the_pyro_kernel_samples_the_tempered_truncated_normal_too():
    """The same target through :class:`SGMCMCKernel` on a Pyro model: ``w ~ TN(0.4, 1)`` on
    ``[0, 1]`` for 2,000 independent instances, sampled at ``T = 0.05`` in logit space."""
    import pyro

    from bayes_dps.inference.sgmcmc.pyro_kernel import SGMCMCKernel

    prior = build_weight_prior({"name": "truncated_normal", "beta": 0.4, "sigma": SIGMA})

    def model():
        with pyro.plate("instances", 2000):
            pyro.sample("w", prior)

    t = 0.05
    kernel = SGMCMCKernel(
        model, SGLD(step_size=1.0, temperature=t), generator=torch.Generator().manual_seed(1)
    )
    kernel.setup(0)
    params = kernel.initial_params
    total, kept = torch.zeros(2000), 0
    for s in range(2000):
        params = kernel.sample(params)
        if s >= 1000:
            total += torch.sigmoid(params["w"])
            kept += 1
    expected = tempered_mean(-0.1, 1.0, t)  # TN(0.5 − 0.1, σ√T): the same closed form
    assert float((total / kept).mean()) == pytest.approx(expected, abs=0.01)
