"""Stochastic gradient Hamiltonian Monte Carlo (Chen et al. 2014), in its momentum form:

    v ← (1 − α)·v + η·∇ log p̂(z) + N(0, 2·α·η·T)
    z ← z + v

``α`` is the friction; the gradient-noise estimate ``β̂`` is taken as 0.
"""

from __future__ import annotations

import math

import torch

from bayes_dps.errors import ConfigError
from bayes_dps.inference.sgld import standard_normal
from bayes_dps.inference.sgmcmc_kernel import SGMCMCKernel


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
    v = torch.zeros_like(value) if momentum is None else momentum
    injected = math.sqrt(2 * friction * eta * temperature) * standard_normal(
        value, generator, noise
    )
    v = (1 - friction) * v + eta * grad + injected
    return value + v, v


class SGHMC(SGMCMCKernel):
    def __init__(self, model, step_size=1e-3, step_sizes=None, temperature=1.0, friction=0.1):
        super().__init__(model, step_size, step_sizes, temperature)
        if not 0 < friction <= 1:
            raise ConfigError(f"SGHMC friction must lie in (0, 1], got {friction}")
        self.friction = friction
        self.momentum: dict[str, torch.Tensor] = {}

    def reset_state(self):
        self.momentum = {}

    def update(self, name, value, grad, eta):
        new, self.momentum[name] = sghmc_update(
            value,
            grad,
            self.momentum.get(name),
            eta,
            friction=self.friction,
            temperature=self.temperature,
        )
        return new
