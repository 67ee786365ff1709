"""The ``θ`` move of BADS: one SG-MCMC step on the network's parameters (in place).

    log p̂(θ | w) = −½λ‖θ‖² + ρ_t · mean_{i∈B_t} w_i ℓ_i(θ) + ρ_m · mean_{j∈B_m} ℓ_j(θ)

with ``ℓ_i = log p(z_i | θ)``. Distributed, each rank holds its shard of the global batches:
the means are over the global batch sizes, the prior is split evenly over the ranks, and the
gradients are summed, so every replica takes the same step with the same noise.
"""

from __future__ import annotations

import torch

from bayes_dps import distributed as dist
from bayes_dps.inference.sgmcmc import SGMCMC, SGMCMCState
from bayes_dps.models.likelihoods import upcast


def gaussian_log_prior(params: list[torch.Tensor], lam: float) -> torch.Tensor:
    """``−½λ‖θ‖²`` (this rank's share when distributed)."""
    return -0.5 * lam * sum((upcast(p) ** 2).sum() for p in params) / dist.world_size()


def data_term(
    rho_t: float, rho_m: float, ll_t: torch.Tensor, ll_m: torch.Tensor, w_b: torch.Tensor,
    big_b: int, big_m: int,
) -> torch.Tensor:  # fmt: skip
    """``ρ_t · mean_{i∈B_t} w_i ℓ_i + ρ_m · mean_{j∈B_m} ℓ_j`` (this rank's shards, the means
    over the global batch sizes ``big_b``, ``big_m``)."""
    return rho_t * (w_b * ll_t).sum() / big_b + rho_m * ll_m.sum() / big_m


class ThetaMove:
    """``algorithm`` on ``θ`` (module docstring); ``buffers`` hold its per-tensor state."""

    def __init__(self, algorithm: SGMCMC, lam: float, rho_t: float, rho_m: float) -> None:
        self.algorithm, self.lam, self.rho_t, self.rho_m = algorithm, lam, rho_t, rho_m
        self.buffers: dict[str, torch.Tensor] = {}

    def log_joint(
        self,
        params: list[torch.Tensor],
        ll_t: torch.Tensor,
        ll_m: torch.Tensor,
        w_b: torch.Tensor,
        big_b: int,
        big_m: int,
    ) -> torch.Tensor:
        """``log p̂(θ | w)`` of this rank's shards (a frozen network contributes no prior)."""
        log_prior = gaussian_log_prior(params, self.lam) if params else 0.0
        return log_prior + data_term(self.rho_t, self.rho_m, ll_t, ll_m, w_b, big_b, big_m)

    def step(
        self, params: list[torch.Tensor], log_joint: torch.Tensor, generator: torch.Generator
    ) -> None:
        """Move ``params`` in place by one step on ``log_joint``'s gradient."""
        if not params:  # a frozen network leaves only the weights to sample
            return
        grads = list(torch.autograd.grad(log_joint, params))
        dist.all_reduce_sum_(grads)
        names = [f"theta{i}" for i in range(len(params))]
        with torch.no_grad():
            state = SGMCMCState(dict(zip(names, map(upcast, params), strict=True)), self.buffers)
            new = self.algorithm.apply(
                state, dict(zip(names, map(upcast, grads), strict=True)), generator
            )
            for name, p in zip(names, params, strict=True):
                p.copy_(new.params[name])
        self.buffers = new.buffers

    def state_dict(self) -> dict:
        return {"buffers": dict(self.buffers)}

    def load_state_dict(self, state: dict) -> None:
        self.buffers = dict(state["buffers"])
