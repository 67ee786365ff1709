"""Stochastic gradient Langevin dynamics (Welling & Teh 2011).

z ← z + (η/2) · ∇ log p̂(z) + N(0, η · T)

The Gaussian draw comes from ``generator`` (a seeded ``torch.Generator``: no hidden global
state; the same seed on every process gives every replica the same noise), or is passed in as
``noise`` (a standard-normal tensor of ``z``'s shape) when the caller draws it for a larger
block and keeps a slice, as a distributed sampler does. All updates run in float32.
"""

from __future__ import annotations

import math

import torch

from bayes_dps.inference.sgmcmc_kernel import SGMCMCKernel


def standard_normal(
    like: torch.Tensor, generator: torch.Generator | None = None, noise: torch.Tensor | None = None
) -> torch.Tensor:
    """``noise`` if given, else a fresh ``N(0, I)`` draw of ``like``'s shape."""
    if noise is not None:
        return noise
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


def sgld_update(
    value: torch.Tensor,
    grad: torch.Tensor,
    eta: float,
    temperature: float = 1.0,
    *,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    eps = standard_normal(value, generator, noise)
    return value + 0.5 * eta * grad + math.sqrt(eta * temperature) * eps


class SGLD(SGMCMCKernel):
    """SGLD on every latent site (per-site step sizes, temperature)."""

    def update(self, name, value, grad, eta):
        return sgld_update(value, grad, eta, self.temperature)
