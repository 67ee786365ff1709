"""The shape every SG-MCMC algorithm of the package shares (as in posteriors and BlackJAX):

    state         = algorithm.init(params)                       # params: {name: tensor}
    state, info   = algorithm.update(state, grad_fn, batch, rng)
    state         = algorithm.apply(state, grads, rng)           # when the gradients are known

``grad_fn(params, batch) -> (log_density, grads)`` gives ``log p̂`` at ``params`` and its
gradient (a dict like ``params``). The update equation of each algorithm is written once, as a
function of one tensor (``sgld_update``, ``psgld_update``, ``sghmc_update``), and
:meth:`SGMCMC.step` applies it; everything else — the Pyro ``MCMCKernel`` adapter
(``pyro_kernel``), the BADS sampler's moves of ``θ``, ``θ'``, ``w`` and ``φ`` — is built on
``init`` / ``update`` / ``apply``, so no code dispatches on the kernel's name.

**Randomness.** The Gaussian (or, for Gibbs, uniform) draws come from ``rng``, a seeded
``torch.Generator`` — no hidden global state; the same seed on every process gives every
replica the same numbers — one draw per tensor, in the order of ``params``. A caller that
draws for a larger block and keeps a slice (a distributed sampler: its rank's part of the
global batch's noise) passes ``noise`` (:meth:`SGMCMC.draw` gives the right kind) instead.
Updates run in the dtype of the parameters (float32 in the package's loops).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch

Params = dict[str, torch.Tensor]
GradFn = Callable[[Params, Any], tuple[torch.Tensor, Params]]


@dataclass
class SGMCMCState:
    """``params``: the current values; ``buffers``: per-tensor algorithm state (pSGLD's
    squared-gradient average, SGHMC's momentum; absent until first used); ``step``: updates
    taken."""

    params: Params
    buffers: Params = field(default_factory=dict)
    step: int = 0


def standard_normal(
    like: torch.Tensor, generator: torch.Generator | None = None, noise: torch.Tensor | None = None
) -> torch.Tensor:
    """``noise`` if given, else a fresh ``N(0, I)`` draw of ``like``'s shape."""
    if noise is not None:
        return noise
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


@dataclass(frozen=True)
class SGMCMC:
    """Base class of the algorithms: hyper-parameters as fields (``step_size`` ``η`` and
    ``temperature`` ``T`` everywhere), :meth:`step` the update of one tensor."""

    step_size: float
    temperature: float = 1.0

    def with_step_size(self, step_size: float) -> SGMCMC:
        """The same algorithm with another ``η`` (per-site step sizes)."""
        return replace(self, step_size=float(step_size))

    # ------------------------------------------------------------------ the shape
    def init(self, params: Params) -> SGMCMCState:
        return SGMCMCState({k: v.detach() for k, v in params.items()})

    def update(
        self, state: SGMCMCState, grad_fn: GradFn, batch: Any, rng: torch.Generator | None = None
    ) -> tuple[SGMCMCState, dict[str, torch.Tensor]]:
        """One step: the gradient at ``state.params`` on ``batch``, then :meth:`apply`."""
        log_density, grads = grad_fn(state.params, batch)
        return self.apply(state, grads, rng), {"log_density": log_density}

    def apply(
        self,
        state: SGMCMCState,
        grads: Params,
        rng: torch.Generator | None = None,
        noise: Params | None = None,
    ) -> SGMCMCState:
        """The update of every tensor of ``state`` given its gradient (noise drawn from ``rng``
        tensor by tensor, or taken from ``noise``)."""
        params, buffers = {}, dict(state.buffers)
        for name, value in state.params.items():
            eps = noise[name] if noise is not None else self.draw(value.shape, value, rng)
            params[name], buf = self.step(value, grads[name], buffers.get(name), eps)
            if buf is not None:
                buffers[name] = buf
        return SGMCMCState(params, buffers, state.step + 1)

    # ------------------------------------------------------------ per algorithm
    def draw(self, shape, like: torch.Tensor, rng: torch.Generator | None) -> torch.Tensor:
        """The random numbers one update of a tensor of ``shape`` consumes (standard normal)."""
        return torch.randn(shape, generator=rng, device=like.device, dtype=like.dtype)

    def step(
        self,
        value: torch.Tensor,
        grad: torch.Tensor,
        buffer: torch.Tensor | None,
        noise: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:  # pragma: no cover - abstract
        """``(new value, new buffer)`` of one tensor (buffer ``None`` for stateless rules)."""
        raise NotImplementedError

    def fill_buffer(self, n: int, rows: torch.Tensor) -> torch.Tensor | None:
        """A buffer for ``n`` instances when only ``rows`` (those of the first batch) have one
        yet — per-instance weights visit their instances a batch at a time. ``None``: the
        algorithm has no buffer."""
        return None
