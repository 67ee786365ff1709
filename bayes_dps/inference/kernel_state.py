"""One SG-MCMC kernel's update rule applied to named tensors, with its per-tensor state
(pSGLD's squared-gradient average, SGHMC's momentum) and its own seeded generator."""

from __future__ import annotations

import torch

from bayes_dps.errors import ConfigError
from bayes_dps.inference.psgld import psgld_update
from bayes_dps.inference.sghmc import sghmc_update
from bayes_dps.inference.sgld import sgld_update

KERNELS = ("sgld", "psgld", "sghmc", "gibbs")


class KernelState:
    """``kernel``: ``sgld`` | ``psgld`` | ``sghmc`` | ``gibbs`` (SGLD for the gradient blocks;
    the exact ``w`` draw is the sampler's). Noise comes from ``generator``, or is passed in."""

    def __init__(
        self,
        kernel: str,
        temperature: float,
        generator: torch.Generator | None = None,
        friction: float = 0.1,
        alpha: float = 0.999,
    ) -> None:
        if kernel not in KERNELS:
            raise ConfigError(f"bads.kernel must be one of {KERNELS}, got {kernel!r}")
        self.kernel, self.temperature, self.generator = kernel, float(temperature), generator
        self.friction, self.alpha = friction, alpha
        self.state: dict[str, torch.Tensor] = {}

    def update(self, value, grad, state, eta: float, noise: torch.Tensor | None = None):
        """One step of the rule: ``(new value, new state)`` (state ``None`` for SGLD)."""
        g = self.generator
        if self.kernel in ("sgld", "gibbs"):
            return sgld_update(value, grad, eta, self.temperature, generator=g, noise=noise), None
        if self.kernel == "psgld":
            return psgld_update(
                value, grad, state, eta, alpha=self.alpha, temperature=self.temperature,
                generator=g, noise=noise,
            )  # fmt: skip
        return sghmc_update(
            value, grad, state, eta, friction=self.friction, temperature=self.temperature,
            generator=g, noise=noise,
        )  # fmt: skip

    def __call__(self, name: str, value, grad, eta: float, noise: torch.Tensor | None = None):
        """Step the tensor ``name``, keeping its state under that name."""
        new, state = self.update(value, grad, self.state.get(name), eta, noise)
        if state is not None:
            self.state[name] = state
        return new
