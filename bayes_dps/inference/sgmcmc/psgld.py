"""Preconditioned SGLD with an RMSprop preconditioner (Li et al. 2016).

    v ← a·v + (1−a)·g²   (v ← g² at the first step),     G = 1 / (λ + √v)
    z ← z + (η/2) · G ⊙ g + N(0, η · T · G)

(the small ``Γ`` correction term of the paper is dropped, as is usual in practice).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bayes_dps.inference.sgmcmc.base import SGMCMC, standard_normal


def psgld_update(
    value: torch.Tensor,
    grad: torch.Tensor,
    square_avg: torch.Tensor | None,
    eta: float,
    *,
    alpha: float = 0.999,
    eps: float = 1e-5,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One pSGLD step of ``value``; returns it and the new ``v`` (module docstring)."""
    v = grad**2 if square_avg is None else alpha * square_avg + (1 - alpha) * grad**2
    precond = 1.0 / (eps + v.sqrt())
    injected = standard_normal(value, generator, noise) * (eta * temperature * precond).sqrt()
    return value + 0.5 * eta * precond * grad + injected, v


@dataclass(frozen=True)
class PSGLD(SGMCMC):
    """pSGLD; ``alpha`` is the RMSprop decay ``a``, ``eps`` its ``λ``."""

    alpha: float = 0.999
    eps: float = 1e-5

    def step(self, value, grad, buffer, noise):
        return psgld_update(
            value, grad, buffer, self.step_size, alpha=self.alpha, eps=self.eps,
            temperature=self.temperature, noise=noise,
        )  # fmt: skip

    def fill_buffer(self, n, rows):
        """Instances not yet visited start from the first batch's mean ``v`` (their scale)."""
        return rows.new_zeros(n) + rows.mean()
