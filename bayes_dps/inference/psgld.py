"""Preconditioned SGLD with an RMSprop preconditioner (Li et al. 2016).

    v ← a·v + (1−a)·g²,     G = 1 / (λ + √v)
    z ← z + (η/2) · G ⊙ g + N(0, η · T · G)

(the small ``Γ`` correction term of the paper is dropped, as is usual in practice).
"""

from __future__ import annotations

import torch

from bayes_dps.inference.sgld import standard_normal
from bayes_dps.inference.sgmcmc_kernel import SGMCMCKernel


def psgld_update(
    value: torch.Tensor,
    grad: torch.Tensor,
    square_avg: torch.Tensor | None,
    eta: float,
    *,
    alpha: float = 0.99,
    eps: float = 1e-5,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    v = grad**2 if square_avg is None else alpha * square_avg + (1 - alpha) * grad**2
    precond = 1.0 / (eps + v.sqrt())
    injected = standard_normal(value, generator, noise) * (eta * temperature * precond).sqrt()
    return value + 0.5 * eta * precond * grad + injected, v


class PSGLD(SGMCMCKernel):
    """pSGLD; ``alpha`` is the RMSprop decay, ``eps`` its ``λ``."""

    def __init__(
        self, model, step_size=1e-3, step_sizes=None, temperature=1.0, alpha=0.99, eps=1e-5
    ):
        super().__init__(model, step_size, step_sizes, temperature)
        self.alpha, self.eps = alpha, eps
        self.square_avg: dict[str, torch.Tensor] = {}

    def reset_state(self):
        self.square_avg = {}

    def update(self, name, value, grad, eta):
        new, self.square_avg[name] = psgld_update(
            value,
            grad,
            self.square_avg.get(name),
            eta,
            alpha=self.alpha,
            eps=self.eps,
            temperature=self.temperature,
        )
        return new
