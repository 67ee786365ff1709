"""Stochastic gradient Langevin dynamics (Welling & Teh 2011).

z ← z + (η/2) · ∇ log p̂(z) + N(0, η · T)
"""

from __future__ import annotations

import math

import torch

from bayes_dps.inference.sgmcmc_kernel import SGMCMCKernel


def sgld_update(
    value: torch.Tensor, grad: torch.Tensor, eta: float, temperature: float = 1.0
) -> torch.Tensor:
    return value + 0.5 * eta * grad + math.sqrt(eta * temperature) * torch.randn_like(value)


class SGLD(SGMCMCKernel):
    """SGLD on every latent site (per-site step sizes, temperature)."""

    def update(self, name, value, grad, eta):
        return sgld_update(value, grad, eta, self.temperature)
