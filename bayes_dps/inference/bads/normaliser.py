"""The normaliser of the weighted-data prior, estimated by an auxiliary chain ``θ'``.

``p(θ | w, D_t) = p(θ) Π_i p(z_i|θ)^{w_i} / Z(w)`` has ``∂ log Z / ∂w_i = E_{p(θ'|w,
D_t)}[log p(z_i | θ')]``. The chain ``θ'`` targets ``p(θ' | w, D_t)`` — the same algorithm on
the same ``B_t`` as ``θ``, no meta term, its own step size and temperature:

    log p̂(θ' | w) = −½λ‖θ'‖² + ρ_t · mean_{i∈B_t} w_i ℓ_i(θ')

and ``ℓ̄_i``, the mean of ``log p(z_i | θ')`` over the last ``K`` visits of point ``i`` (a
running mean up to ``K`` visits, then an exponential window of ``K``; ``K = 1``: the current
draw alone), estimates the expectation. The weights' drift is then ``ℓ_i(θ) − γ ℓ̄_i``.
``θ'`` must not move BatchNorm statistics (the backward runs before they are restored).

**Cost.** A step of ``θ'`` is a forward and backward pass over ``B_t``, half again a BADS step
on ``B_t ∪ B_m`` of equal halves. With ``bads.normaliser_every = k`` the chain moves on every
``k``-th step only and is merely evaluated on the others (``ℓ_i(θ')``, a forward pass without
gradients): ``θ'`` is then an SG-MCMC chain on the same target taking a step every ``k``
batches, so ``ℓ_i(θ')`` stays a draw of ``log p(z_i | θ')`` under the chain's law, the
backward pass costs ``1/k`` of its share; the chain makes ``k``× fewer moves, and must still
follow ``w`` (``bads.eta_aux``; ``docs/methods.md``)."""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn

from bayes_dps import distributed as dist
from bayes_dps.inference.bads.theta import gaussian_log_prior
from bayes_dps.inference.sgmcmc import SGMCMC, SGMCMCState
from bayes_dps.models.batchnorm import frozen_running_stats
from bayes_dps.models.likelihoods import Likelihood, upcast


class AuxiliaryChain:
    """``θ'`` (module docstring), started where ``θ`` starts.

    Args:
        model: the network (evaluated with ``θ'`` in place of its own tensors).
        algorithm: the chain's SG-MCMC algorithm (step size ``eta_aux``, its temperature).
        lam, rho_t: as for ``θ``.
        n_t: ``N_t`` (the windowed means are kept per instance).
        window: ``K``.
        every: ``k``: ``θ'`` moves on steps ``t`` with ``t % k == 0`` only (module docstring).
    """

    def __init__(
        self,
        model: nn.Module,
        algorithm: SGMCMC,
        lam: float,
        rho_t: float,
        n_t: int,
        window: int = 1,
        every: int = 1,
        device: torch.device | str = "cpu",
    ) -> None:
        self.algorithm, self.lam, self.rho_t = algorithm, lam, rho_t
        self.window, self.every = int(window), int(every)
        self.state = SGMCMCState(
            {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        )
        self.mean = torch.zeros(n_t, device=device)
        self.visits = torch.zeros(n_t, device=device)
        self.log_joint_sum = torch.zeros((), device=device)

    @property
    def params(self) -> dict[str, torch.Tensor]:
        return self.state.params

    def step(
        self,
        model: nn.Module,
        likelihood: Likelihood,
        batch_t: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        w_b: torch.Tensor,
        big_b: int,
        generator: torch.Generator,
        autocast=nullcontext,
        t: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Step ``t`` of ``θ'`` on ``B_t`` (a move when ``t % every == 0``, else ``θ'`` is only
        evaluated on it); returns ``ℓ̄_i`` of the batch (at the state before the step,
        windowed) and the chain's minibatch log density, both detached."""
        if t % self.every:
            return self._evaluate(model, likelihood, batch_t, w_b, big_b, autocast)
        x_t, y_t, idx = batch_t
        names = list(self.state.params)
        leaves = {n: self.state.params[n].requires_grad_(True) for n in names}
        with frozen_running_stats(model):
            with autocast():
                out = likelihood(model, x_t, y_t, params=leaves)
            ll = upcast(out.values)
            target = self._log_density(list(leaves.values()), w_b, ll, big_b)
            grads = list(torch.autograd.grad(target, list(leaves.values())))
        dist.all_reduce_sum_(grads)
        with torch.no_grad():
            keyed = [f"aux{i}" for i in range(len(names))]
            state = SGMCMCState(
                {k: leaves[n].detach() for k, n in zip(keyed, names, strict=True)},
                self.state.buffers,
            )
            new = self.algorithm.apply(state, dict(zip(keyed, grads, strict=True)), generator)
            self.state = SGMCMCState(
                {n: new.params[k] for k, n in zip(keyed, names, strict=True)}, new.buffers
            )
        self.log_joint_sum += target.detach()
        return self._window_mean(idx, ll.detach()), target.detach()

    @torch.no_grad()
    def _evaluate(self, model, likelihood, batch_t, w_b, big_b, autocast):
        """``ℓ_i(θ')`` on ``B_t`` and the chain's minibatch log density, ``θ'`` unmoved."""
        x_t, y_t, idx = batch_t
        with frozen_running_stats(model), autocast():
            out = likelihood(model, x_t, y_t, params=self.state.params)
        ll = upcast(out.values)
        target = self._log_density(list(self.state.params.values()), w_b, ll, big_b)
        self.log_joint_sum += target
        return self._window_mean(idx, ll), target

    def _log_density(self, params, w_b, ll, big_b) -> torch.Tensor:
        """``log p̂(θ' | w)`` on the minibatch (this rank's share when distributed)."""
        return gaussian_log_prior(params, self.lam) + self.rho_t * (w_b * ll).sum() / big_b

    def _window_mean(self, idx: torch.Tensor, ll: torch.Tensor) -> torch.Tensor:
        """``ℓ̄_i`` over the last ``K`` visits of each point of the batch (merged over ranks)."""
        if self.window == 1:
            return ll
        visits = (self.visits[idx] + 1).clamp(max=self.window)
        mean = self.mean[idx] + (ll.to(self.mean.dtype) - self.mean[idx]) / visits
        idx_all = dist.all_gather_cat(idx)
        self.mean[idx_all] = dist.all_gather_cat(mean)
        self.visits[idx_all] = dist.all_gather_cat(visits)
        return mean

    def read_log_joint(self, steps: int) -> float:
        """The mean minibatch log density since the last read (one host sync)."""
        out = float(self.log_joint_sum) / max(steps, 1)
        self.log_joint_sum.zero_()
        return out

    def state_dict(self) -> dict:
        return {
            "params": {k: v.clone() for k, v in self.state.params.items()},
            "buffers": dict(self.state.buffers),
            "mean": self.mean.clone(),
            "visits": self.visits.clone(),
        }

    def load_state_dict(self, state: dict) -> None:
        device = self.mean.device
        params = {k: v.to(device) for k, v in state["params"].items()}
        self.state = SGMCMCState(params, dict(state["buffers"]))
        self.mean.copy_(state["mean"])
        self.visits.copy_(state["visits"])
