"""The ``w`` moves of BADS: given ``θ`` and the drift ``d_i = ℓ_i − γ ℓ̄_i`` of the batch's
points, the weights of the minibatch ``w_B`` take one step (only they change).

* :class:`LangevinWeights` — a gradient algorithm (SGLD, pSGLD, SGHMC) on the unconstrained
  ``z_i = logit(w_i)``, with the log-Jacobian scaled by the temperature ``T``:
  ``∇_z [log p(w_i) + ρ_w · w_i · d_i + T · log|dw/dz|]``. An algorithm at temperature ``T``
  samples ``∝ exp(U(z)/T)``; the tempered target in ``w`` is
  ``[p(w_i) exp(ρ_w w_i d_i)]^{1/T}``, which in ``z`` is that density times ``|dw/dz|`` once —
  hence ``U = log p + ρ_w w d + T log|dw/dz|``. (Unscaled, the chain would sample the
  tempered density times ``|dw/dz|^{1/T − 1}``: at ``T = 1e-4`` the mode of ``logit(w)``'s
  density, 0.489 instead of 0.400 for ``β = 0.5, σ = 1, d = −0.1``.) ``ρ_w = 1`` targets the
  model's conditional exactly; larger values sharpen the weights (the paper's impact
  constant).
* :class:`GibbsWeights` — the exact draw ``w_i ~ TN(β + σ² ρ_w d_i, σ)`` on ``[0, 1]`` (a
  truncated-normal prior).
* :class:`WeightNetwork` — ``w_i = sigmoid(g_φ(e_i))`` with ``e_i`` the likelihood's embedding
  of the point; ``φ`` moves by an algorithm on
  ``−½λ‖φ‖² + (N_t/|B_t|) Σ_i [log p(w_i) + ρ_φ w_i d_i]``. ``w_i`` is then a deterministic
  function of ``φ``, so the weights sit near the conditional's mode
  ``clamp(β + σ² ρ d_i, 0, 1)`` rather than its mean. When the likelihood caches the
  embeddings (text), every visited point's ``w_i`` is recomputed by the moved network after
  each move (:meth:`WeightNetwork.refresh`), so ``w`` and its running average are the current
  network's view of ``D_t``, not a mix of its past states.

Every move keeps ``w``, the full vector of current weights (``N_t`` floats), on every rank:
the batch's new weights (and per-instance algorithm state) are all-gathered after each move.
Distributed, a rank's random numbers are its slice of one draw for the global batch, so they
are the same whatever the world size.
"""

from __future__ import annotations

import torch
from torch import nn

from bayes_dps import distributed as dist
from bayes_dps.inference.sgmcmc import SGMCMC, GibbsTruncatedNormal, SGMCMCState
from bayes_dps.models.likelihoods import Likelihood, LogLik
from bayes_dps.models.priors import unvalidated

#: weights are kept this far inside (0, 1), where logit and the priors are finite
EDGE = 1e-6


class InstanceWeights:
    """Per-instance ``w`` (``N_t`` floats, starting at ``init``); subclasses implement
    :meth:`move`."""

    def __init__(self, n_t: int, init: float, device: torch.device | str = "cpu") -> None:
        self.w = torch.full((n_t,), float(init), device=device)
        #: indices written since :meth:`take_changed` (``None``: any may have changed)
        self._changed: list[torch.Tensor] | None = None

    def take_changed(self) -> torch.Tensor | None:
        """The indices whose ``w_i`` changed since the last call (``None``: possibly all,
        as after a refresh or a load), for the recorder's ``O(|B_t|)`` running sum."""
        changed, self._changed = self._changed, []
        if changed is None:
            return None
        return torch.cat(changed) if changed else self.w.new_zeros(0, dtype=torch.long)

    def weights_of(self, idx: torch.Tensor, out: LogLik, y: torch.Tensor) -> torch.Tensor:
        return self.w[idx]

    def move(self, idx, drift, out, y, big_b, generator) -> None:  # pragma: no cover
        raise NotImplementedError

    def merge(self, idx: torch.Tensor, w_new: torch.Tensor) -> torch.Tensor:
        """Write the batch's new weights on every rank; returns the global batch's indices."""
        idx_all = dist.all_gather_cat(idx)
        self.w[idx_all] = dist.all_gather_cat(w_new)
        if self._changed is not None:
            self._changed.append(idx_all)
        return idx_all

    @staticmethod
    def noise(alg: SGMCMC, like: torch.Tensor, big_b: int, generator) -> torch.Tensor:
        """This rank's slice of the random numbers of a move of the global batch."""
        return alg.draw((big_b, *like.shape[1:]), like, generator)[dist.shard(big_b)]

    def state_dict(self) -> dict:
        return {"w": self.w.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.w.copy_(state["w"])
        self._changed = []  # a checkpoint is taken between steps: the recorder holds this w


class LangevinWeights(InstanceWeights):
    """A gradient algorithm on ``logit(w)`` (module docstring); ``buffer`` holds its
    per-instance state (pSGLD, SGHMC), created at the first move."""

    def __init__(self, n_t, init, prior, algorithm: SGMCMC, rho_w: float, device="cpu") -> None:
        super().__init__(n_t, init, device)
        self.prior = unvalidated(prior)  # no host sync per step
        self.algorithm, self.rho_w = algorithm, float(rho_w)
        self.buffer: torch.Tensor | None = None

    def move(self, idx, drift, out, y, big_b, generator) -> None:
        w = self.w[idx].clamp(EDGE, 1 - EDGE)
        z = torch.logit(w).requires_grad_(True)
        w_of_z = torch.sigmoid(z)
        target = (
            self.prior.log_prob(w_of_z)
            + self.rho_w * w_of_z * drift
            + self.algorithm.temperature * torch.log(w_of_z * (1 - w_of_z))  # T log|dw/dz|
        ).sum()
        (grad,) = torch.autograd.grad(target, z)
        with torch.no_grad():
            z = z.detach()
            rows = {} if self.buffer is None else {"w": self.buffer[idx]}
            new = self.algorithm.apply(
                SGMCMCState({"w": z}, rows),
                {"w": grad},
                noise={"w": self.noise(self.algorithm, z, big_b, generator)},
            )
            state_rows = new.buffers.get("w")
            if state_rows is not None and self.buffer is None:
                self.buffer = self.algorithm.fill_buffer(len(self.w), state_rows)
            idx_all = self.merge(idx, torch.sigmoid(new.params["w"]))
            if state_rows is not None:
                self.buffer[idx_all] = dist.all_gather_cat(state_rows)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "buffer": self.buffer}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        buffer = state["buffer"]
        self.buffer = None if buffer is None else buffer.to(self.w.device)


class GibbsWeights(InstanceWeights):
    """The exact conditional draw (truncated-normal prior ``TN(β, σ)``)."""

    def __init__(self, n_t, init, prior, rho_w: float, device="cpu") -> None:
        super().__init__(n_t, init, device)
        self.algorithm = GibbsTruncatedNormal(beta=prior.loc, sigma=prior.scale, scale=rho_w)

    def move(self, idx, drift, out, y, big_b, generator) -> None:
        new = self.algorithm.apply(
            SGMCMCState({"w": self.w[idx]}),
            {"w": drift},
            noise={"w": self.noise(self.algorithm, drift, big_b, generator)},
        )
        self.merge(idx, new.params["w"])


class WeightNetwork(InstanceWeights):
    """``w_i = sigmoid(g_φ(e_i))`` (module docstring); ``w`` holds each point's weight as the
    network gave it at the point's latest visit."""

    def __init__(
        self,
        n_t: int,
        init: float,
        prior,
        net: nn.Module,
        likelihood: Likelihood,
        algorithm: SGMCMC,
        rho_phi: float,
        lam: float,
        device="cpu",
        refresh_every: int = 1,
    ) -> None:
        super().__init__(n_t, init, device)
        self.prior = unvalidated(prior)
        self.net, self.likelihood, self.algorithm = net, likelihood, algorithm
        self.rho_phi, self.lam, self.n_t = float(rho_phi), float(lam), n_t
        self.buffers: dict[str, torch.Tensor] = {}
        self.refresh_every, self.moves = int(refresh_every), 0
        #: with cached embeddings (text), each point's ``ℓ_i`` at its latest visit (NaN: not
        #: visited yet), so that every visited point's ``w_i`` can follow ``φ``
        self.ell = (
            torch.full((n_t,), float("nan"), device=device)
            if hasattr(likelihood, "embed_cached") and self.refresh_every > 0
            else None
        )

    def weights_of(self, idx, out, y) -> torch.Tensor:
        return self.of_embeddings(self.likelihood.embed(out, y, idx))

    def of_embeddings(self, e: torch.Tensor) -> torch.Tensor:
        """``sigmoid(g_φ(e))`` per row of ``e``."""
        return torch.sigmoid(self.net(e.float())).reshape(-1)

    def move(self, idx, drift, out, y, big_b, generator) -> None:
        params = list(self.net.parameters())
        w = self.weights_of(idx, out, y).clamp(EDGE, 1 - EDGE)
        world = dist.world_size()
        target = (
            -0.5 * self.lam * sum((p**2).sum() for p in params) / world
            + (self.n_t / big_b) * (self.prior.log_prob(w) + self.rho_phi * w * drift).sum()
        )
        grads = list(torch.autograd.grad(target, params))
        dist.all_reduce_sum_(grads)
        names = [f"phi{i}" for i in range(len(params))]
        with torch.no_grad():
            state = SGMCMCState(dict(zip(names, params, strict=True)), self.buffers)
            new = self.algorithm.apply(state, dict(zip(names, grads, strict=True)), generator)
            for name, p in zip(names, params, strict=True):
                p.copy_(new.params[name])
            self.buffers = new.buffers
            # the batch's weights as the moved network gives them (as for per-instance w)
            idx_all = self.merge(idx, self.weights_of(idx, out, y).clamp(EDGE, 1 - EDGE))
            self.moves += 1
            if self.ell is not None:
                self.ell[idx_all] = dist.all_gather_cat(out.values.detach().float())
                if self.moves % self.refresh_every == 0:
                    self.refresh()

    @torch.no_grad()
    def refresh(self) -> None:
        """Every visited point's weight as the current ``φ`` gives it, from its cached
        embedding and its latest ``ℓ_i`` (one pass of ``g_φ`` over ``N_t``, every
        ``refresh_every`` moves; needs a likelihood with ``embed_cached``). Without it ``w``
        would mix networks of every age: on one pass over ``D_t`` a point visited early would
        keep the untrained network's weight. Cost, one CPU thread, ``g_φ`` 577 → 32 → 1:
        2 ms at ``N_t = 480``, 0.4 s at 50,000 (a GPU does the latter in milliseconds)."""
        seen = ~torch.isnan(self.ell)  # a mask, not indices: no host sync
        every = torch.arange(self.n_t, device=self.w.device)
        e = self.likelihood.embed_cached(every, torch.where(seen, self.ell, 0.0))
        w = self.of_embeddings(e).clamp(EDGE, 1 - EDGE)
        self.w.copy_(torch.where(seen, w, self.w))
        self._changed = None  # every visited w_i

    def state_dict(self) -> dict:
        return {
            **super().state_dict(), "net": self.net.state_dict(), "buffers": self.buffers,
            "ell": None if self.ell is None else self.ell.clone(), "moves": self.moves,
        }  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.net.load_state_dict(state["net"])
        self.buffers = dict(state["buffers"])
        if self.ell is not None and state.get("ell") is not None:
            self.ell.copy_(state["ell"])
        self.moves = int(state.get("moves", 0))


def default_weight_net(in_features: int, hidden: int = 64) -> nn.Module:
    """``g_φ``: a small MLP from the likelihood's embedding of a point to one logit."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, 1))
