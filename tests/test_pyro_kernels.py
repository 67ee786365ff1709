"""The Pyro ``MCMCKernel`` classes (``SGLD``, ``PSGLD``, ``SGHMC``, ``GibbsWeights``) sample the
stated target.

* Their potential's gradient, at random points of the unconstrained space, equals autograd of
  the independent hand-written log density of ``test_bads_kernels`` — prior, weighted
  likelihood, meta likelihood and the log-Jacobian of ``w = sigmoid-like(z)``.
* Run by ``pyro.infer.MCMC`` on the small BADS model, their draws of ``w`` and ``θ`` agree with
  the stored NUTS posterior (``reference/bads_nuts.pt``), from one chain of 1500 steps. The
  tolerance on ``w`` (mean absolute error of the 12 posterior means ≤ 0.18, measured 0.01–0.10;
  average posterior sd within 25% of NUTS's 0.28, measured 0.25–0.28) is far from what a
  kernel that drops the log-Jacobian gives: its weights collapse towards 0 or 1 (measured
  error 0.33–0.35, sd 0.14–0.15). ``θ`` is checked only coarsely here (within 2.5 posterior
  sds): one chain mixes it slowly along the softmax's shift direction; the 200-chain
  agreement test of ``test_bads_kernels`` checks it tightly.
"""

from __future__ import annotations

import pyro
import pytest
import torch
from pyro.infer import MCMC
from test_bads_kernels import KW, REF, hand_log_joint, model_args

from bayes_dps.inference import PSGLD, SGHMC, SGLD, GibbsWeightsKernel, SGMCMCKernel
from bayes_dps.models.bads import bads_model

KERNELS = {
    "SGLD": lambda: SGMCMCKernel(bads_model, SGLD(0.01), step_sizes={"w": 0.05}),
    "PSGLD": lambda: SGMCMCKernel(bads_model, PSGLD(0.01, alpha=0.999), step_sizes={"w": 0.05}),
    "SGHMC": lambda: SGMCMCKernel(bads_model, SGHMC(0.002), step_sizes={"w": 0.01}),
    "GibbsWeights": lambda: GibbsWeightsKernel(bads_model, SGLD(0.01)),
}


@pytest.fixture(scope="module")
def ref():
    return torch.load(REF, weights_only=False)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_potential_gradient_equals_the_hand_density(ref, name):
    kernel = KERNELS[name]()
    kernel.setup(0, *model_args(ref), **KW)
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        params = {
            "theta.weight": torch.randn(2, 2, generator=g),
            "theta.bias": torch.randn(2, generator=g),
            "w": torch.randn(12, generator=g),
        }
        log_joint, grads = kernel.log_joint_and_grad(params)
        W = params["theta.weight"][None].requires_grad_(True)
        b = params["theta.bias"][None].requires_grad_(True)
        z = params["w"][None].requires_grad_(True)
        hand, _ = hand_log_joint(ref, W, b, z)
        gW, gb, gz = torch.autograd.grad(hand.sum(), [W, b, z])
        assert log_joint == pytest.approx(hand.item(), rel=1e-5)
        assert torch.allclose(grads["theta.weight"], gW[0], atol=1e-5)
        assert torch.allclose(grads["theta.bias"], gb[0], atol=1e-5)
        assert torch.allclose(grads["w"], gz[0], atol=1e-5)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_under_pyro_mcmc_matches_nuts(ref, name):
    pyro.set_rng_seed(0)
    mcmc = MCMC(KERNELS[name](), num_samples=1000, warmup_steps=500, disable_progbar=True)
    mcmc.run(*model_args(ref), **KW)
    draws = mcmc.get_samples()
    w_err = (draws["w"].mean(0) - ref["mean"]["w"]).abs()
    w_sd, ref_sd = draws["w"].std(0).mean(), ref["std"]["w"].mean()
    assert w_err.mean() <= 0.18, (name, w_err)
    assert 0.75 * ref_sd <= w_sd <= 1.25 * ref_sd, (name, w_sd, ref_sd)
    for site in ("theta.weight", "theta.bias"):  # one chain mixes θ slowly: a coarse check
        err = (draws[site].mean(0) - ref["mean"][site]).abs()
        assert (err <= 2.5 * ref["std"][site]).all(), (name, site, err, ref["std"][site])
