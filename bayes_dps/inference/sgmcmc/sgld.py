"""Stochastic gradient Langevin dynamics (Welling & Teh 2011).

z ← z + (η/2) · ∇ log p̂(z) + N(0, η · T)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bayes_dps.inference.sgmcmc.base import SGMCMC, standard_normal


def sgld_update(
    value: torch.Tensor,
    grad: torch.Tensor,
    eta: float,
    temperature: float = 1.0,
    *,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """One SGLD step of ``value`` (module docstring)."""
    eps = standard_normal(value, generator, noise)
    return value + 0.5 * eta * grad + math.sqrt(eta * temperature) * eps


@dataclass(frozen=True)
class SGLD(SGMCMC):
    """SGLD with step size ``η`` and temperature ``T`` (1 samples the posterior; 0 is
    stochastic gradient ascent)."""

    def step(self, value, grad, buffer, noise):
        return sgld_update(value, grad, self.step_size, self.temperature, noise=noise), None
