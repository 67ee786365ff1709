"""Stochastic gradient Hamiltonian Monte Carlo (Chen et al. 2014), in its momentum form:

    v ← (1 − α)·v + η·∇ log p̂(z) + N(0, 2·α·η·T)      (v = 0 at the first step)
    z ← z + v

``α`` is the friction; the gradient-noise estimate ``β̂`` is taken as 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bayes_dps.errors import ConfigError
from bayes_dps.inference.sgmcmc.base import SGMCMC, standard_normal


def sghmc_update(
    value: torch.Tensor,
    grad: torch.Tensor,
    momentum: torch.Tensor | None,
    eta: float,
    *,
    friction: float = 0.1,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGHMC step of ``value``; returns it and the new momentum (module docstring)."""
    v = torch.zeros_like(value) if momentum is None else momentum
    injected = math.sqrt(2 * friction * eta * temperature) * standard_normal(
        value, generator, noise
    )
    v = (1 - friction) * v + eta * grad + injected
    return value + v, v


@dataclass(frozen=True)
class SGHMC(SGMCMC):
    """SGHMC with friction ``α ∈ (0, 1]``."""

    friction: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.friction <= 1:
            raise ConfigError(f"SGHMC friction must lie in (0, 1], got {self.friction}")

    def step(self, value, grad, buffer, noise):
        return sghmc_update(
            value, grad, buffer, self.step_size, friction=self.friction,
            temperature=self.temperature, noise=noise,
        )  # fmt: skip

    def fill_buffer(self, n, rows):
        """Instances not yet visited are at rest."""
        return rows.new_zeros(n)
