"""BADS sampling for networks: one stochastic-gradient MCMC step per minibatch pair.

The same joint as :func:`bayes_dps.models.bads.bads_model`, written with tensors so that a
step costs one forward/backward pass over ``B_t ∪ B_m`` (the paper's cost claim):

    θ-gradient:  ∇ log p(θ) + ρ_t · mean_{i∈B_t} w_i ∇ℓ_i + ρ_m · mean_{j∈B_m} ∇ℓ_j
    w-update:    only the weights of the current minibatch move (block update of ``w_B``
                 given θ), on the unconstrained ``z_i = logit(w_i)`` with the log-Jacobian,
                 with gradient ``∇_z [log p(w_i) + ρ_w · w_i ℓ_i] + ∇_z log|dw/dz|``
                 — or, for ``kernel="gibbs"``, the exact draw ``w_i ~ TN(β + σ² ρ_w ℓ_i, σ)``.

``ρ_w = 1`` makes the ``w_B`` block target the model's exact conditional ``p(w_i | θ)``;
larger values sharpen the weights (the paper's tuned impact constant ``ρ_w``). The
weight-network variant replaces ``w`` by ``sigmoid(g_φ(e_i))`` with ``φ`` sampled by the same
kernel and ``e_i = [h_θ(x_i), onehot(y_i), −ℓ_i]`` (detached).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bayes_dps.errors import ConfigError, DataError, NumericalError
from bayes_dps.inference.gibbs_weights import weight_conditional
from bayes_dps.inference.inference_data import weights_to_inference_data
from bayes_dps.inference.psgld import psgld_update
from bayes_dps.inference.sghmc import sghmc_update
from bayes_dps.inference.sgld import sgld_update
from bayes_dps.inference.weight_trace import WeightRecorder, top_fraction
from bayes_dps.models.priors import TruncatedNormal, prior_spec

KERNELS = ("sgld", "psgld", "sghmc", "gibbs")


class KernelState:
    """Applies one kernel's update rule to named tensors, keeping its per-tensor state."""

    def __init__(
        self, kernel: str, temperature: float, friction: float = 0.1, alpha: float = 0.999
    ) -> None:
        if kernel not in KERNELS:
            raise ConfigError(f"bads.kernel must be one of {KERNELS}, got {kernel!r}")
        self.kernel, self.temperature = kernel, temperature
        self.friction, self.alpha = friction, alpha
        self.state: dict[str, torch.Tensor] = {}

    def update(self, value: torch.Tensor, grad: torch.Tensor, state, eta: float):
        """One step of the kernel's rule: ``(new value, new state)`` (state ``None`` for SGLD)."""
        if self.kernel in ("sgld", "gibbs"):
            return sgld_update(value, grad, eta, self.temperature), None
        if self.kernel == "psgld":
            return psgld_update(
                value, grad, state, eta, alpha=self.alpha, temperature=self.temperature
            )
        return sghmc_update(
            value, grad, state, eta, friction=self.friction, temperature=self.temperature
        )

    def __call__(self, name: str, value: torch.Tensor, grad: torch.Tensor, eta: float):
        """Step the tensor ``name``, keeping its state under that name."""
        new, state = self.update(value, grad, self.state.get(name), eta)
        if state is not None:
            self.state[name] = state
        return new


class BADSSampler:
    """Joint SG-MCMC over a network's parameters ``θ`` (updated in place) and ``w``.

    Args:
        model: a classifier with ``forward_with_features`` (features + linear head).
        n_t: ``N_t``; n_m: ``N_m``.
        prior: ``p(w_i)`` (a distribution on [0, 1]); ``gibbs`` needs a ``TruncatedNormal``.
        lam: prior precision ``λ`` of ``θ`` (and ``φ``).
        rho_t, rho_m, rho_w: impact constants (defaults ``N_t``, ``N_m``, 1).
        rho_phi: the weight-network variant's ``ρ_w`` (the paper's ``ρ_φ``). Since ``w_i`` is
            then a deterministic function of ``φ``, the weights sit near the conditional's
            mode ``clamp(β + σ² ρ ℓ_i, 0, 1)`` rather than its mean, so ``ρ`` must be small
            enough that ``β + σ² ρ ℓ_i > 0`` for well-fitted points, or every weight is 0.
        eta_theta, eta_w, eta_phi: step sizes of the ``θ``, ``w`` (logit space) and ``φ``
            (weight-network parameters) blocks.
        temperature: ``T`` of the injected noise.
        kernel: ``sgld`` | ``psgld`` | ``sghmc`` | ``gibbs`` (exact ``w`` | θ, SGLD for θ).
        weight_net: the ``g_φ`` of the weight-network variant (``None``: per-instance ``w``).
        init_w: initial weights (default: the prior mean).
        weight_warmup: steps at the start during which ``w`` (or ``φ``) is held at its
            initial value and only ``θ`` moves. While the network is untrained every
            log-likelihood is low and ``ρ_w ℓ_i`` pushes all weights down alike; a weight
            network then saturates its sigmoid and cannot recover (its ``φ`` gradients vanish).
        average_from: steps before this are burn-in for :attr:`weights` (the running average;
            a run of ``S`` steps with the paper's ``S_avg`` uses ``S − S_avg``).
        thin, trace_max_instances, trace_seed: the thinned trace behind
            :meth:`to_inference_data` (see ``inference.weight_trace.WeightRecorder``).
        check_inputs: check every batch's labels and indices (they are read back to the host,
            a sync per step; the package's own loop, whose data were checked when loaded,
            turns it off). Empty batches are refused either way.

    In a training loop::

        sampler = BADSSampler(model, n_t, n_m, prior=truncated_normal(0.5, 1.0), rho_w=10)
        for batch_t, batch_m in zip(train_batches, meta_batches):  # (x, y, idx) each
            sampler.step(batch_t, batch_m)          # θ moves in place, w_B moves
        sampler.weights                            # running average of w (per instance)
        sampler.selected(0.5)                      # indices of the top half
        sampler.to_inference_data(groups=labels)   # ArviZ: posterior w, sample_stats lp

    Tensors stay on ``device`` (that of the batches and the model); nothing is moved.
    """

    def __init__(
        self,
        model: nn.Module,
        n_t: int,
        n_m: int,
        *,
        prior: torch.distributions.Distribution,
        lam: float = 1e-4,
        rho_t: float | None = None,
        rho_m: float | None = None,
        rho_w: float = 1.0,
        rho_phi: float = 1.0,
        eta_theta: float = 1e-4,
        eta_w: float = 1e-2,
        eta_phi: float = 1e-5,
        temperature: float = 1.0,
        kernel: str = "sgld",
        weight_net: nn.Module | None = None,
        init_w: float | None = None,
        weight_warmup: int = 0,
        average_from: int = 0,
        thin: int = 1,
        trace_max_instances: int = 100_000,
        trace_seed: int = 0,
        device: torch.device | str = "cpu",
        check_inputs: bool = True,
    ) -> None:
        if n_m < 1:
            raise ConfigError("BADS needs a non-empty meta set D_m (dataset.meta_per_class > 0)")
        for name, eta in (
            ("bads.eta_theta", eta_theta),
            ("bads.eta_w", eta_w),
            ("bads.eta_phi", eta_phi),
        ):
            if not eta > 0:
                raise ConfigError(f"{name} must be > 0, got {eta}")
        if kernel == "gibbs" and (weight_net is not None or not isinstance(prior, TruncatedNormal)):
            raise ConfigError(
                "bads.kernel=gibbs needs per-instance w with a truncated-normal prior"
            )
        self.model, self.prior, self.lam = model, prior, float(lam)
        self.n_t, self.n_m = n_t, n_m
        self.rho_t = float(n_t if rho_t is None else rho_t)
        self.rho_m = float(n_m if rho_m is None else rho_m)
        self.rho_w, self.rho_phi = float(rho_w), float(rho_phi)
        self.eta_theta, self.eta_w, self.eta_phi = float(eta_theta), float(eta_w), float(eta_phi)
        self.temperature = float(temperature)
        self.kernel = kernel
        self.updates = KernelState(kernel, temperature)
        self.weight_net = weight_net
        self.weight_warmup = int(weight_warmup)
        start = float(prior.mean) if init_w is None else float(init_w)
        self.w = torch.full((n_t,), start, device=device)
        self.num_steps = 0
        self.last_log_joint = float("nan")
        self.check_inputs = check_inputs
        self.recorder = WeightRecorder(
            n_t, average_from, thin, trace_max_instances, seed=trace_seed
        )

    # -------------------------------------------------------------- weights
    def weights_of(
        self,
        idx: torch.Tensor,
        feats: torch.Tensor | None = None,
        y: torch.Tensor | None = None,
        ll: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``w`` of the points ``idx`` (per-instance), or ``sigmoid(g_φ(e_i))``."""
        if self.weight_net is None:
            return self.w[idx]
        return torch.sigmoid(self.weight_net(self.embed(feats, y, ll))).reshape(-1)

    def embed(self, feats: torch.Tensor, y: torch.Tensor, ll: torch.Tensor) -> torch.Tensor:
        """``e_i = [h_θ(x_i), onehot(y_i), −ℓ_i]``, all detached (the loss as in
        Meta-Weight-Net, so that ``g_φ`` can tell fitted from unfitted points)."""
        k = self.model.num_classes
        onehot = F.one_hot(y, k).to(feats.dtype)
        return torch.cat([feats.detach(), onehot, -ll.detach().reshape(-1, 1)], dim=1)

    # ----------------------------------------------------------------- step
    def check_batches(self, batch_t, batch_m) -> None:
        """Both batches non-empty, of matching lengths; labels in ``[0, k)`` and indices in
        ``[0, N_t)`` (with ``check_inputs``)."""
        for name, batch in (("training batch B_t", batch_t), ("meta batch B_m", batch_m)):
            if not isinstance(batch, tuple | list) or len(batch) != 3:
                raise DataError(f"the {name} must be a tuple (x, y, idx)")
            x, y, idx = batch
            if len(y) == 0:
                raise DataError(f"the {name} is empty; BADS needs points from D_t and D_m")
            if len(x) != len(y) or len(idx) != len(y):
                raise DataError(
                    f"the {name} has {len(x)} inputs, {len(y)} labels, {len(idx)} indices"
                )
            if self.check_inputs:
                k = self.model.num_classes
                if int(y.min()) < 0 or int(y.max()) >= k:
                    bad = int(y[(y < 0) | (y >= k)][0])
                    raise DataError(f"label {bad} in the {name} is outside [0, {k})")
        if self.check_inputs and (int(batch_t[2].min()) < 0 or int(batch_t[2].max()) >= self.n_t):
            raise DataError(
                f"an index of the training batch is outside [0, N_t={self.n_t}): idx are "
                "positions in D_t, as the package's datasets yield them"
            )

    def step(self, batch_t, batch_m) -> dict[str, float]:
        """One joint step on ``B_t = (x, y, idx)`` and ``B_m = (x, y, idx)``."""
        self.check_batches(batch_t, batch_m)
        (x_t, y_t, idx_t), (x_m, y_m, _) = batch_t, batch_m
        self.model.train()
        logits, feats = self.model.forward_with_features(torch.cat([x_t, x_m]))
        b = len(y_t)
        ll = -F.cross_entropy(logits, torch.cat([y_t, y_m]), reduction="none")
        ll_t, ll_m = ll[:b], ll[b:]
        warming = self.num_steps < self.weight_warmup
        w_b = (self.w[idx_t] if warming else self.weights_of(idx_t, feats[:b], y_t, ll_t)).detach()
        params = [p for p in self.model.parameters() if p.requires_grad]
        log_prior = -0.5 * self.lam * sum((p**2).sum() for p in params) if params else 0.0
        log_joint = log_prior + self.rho_t * (w_b * ll_t).mean() + self.rho_m * ll_m.mean()
        if not torch.isfinite(log_joint):
            raise NumericalError(
                f"BADS log joint is {log_joint.item()} at step {self.num_steps + 1}; lower "
                "bads.eta_theta or the impact constants"
            )
        if params:  # (a frozen network leaves only the weights to sample)
            grads = torch.autograd.grad(log_joint, params)
            with torch.no_grad():
                for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                    p.copy_(self.updates(f"theta{i}", p, g, self.eta_theta))
        if not warming:
            self._update_weights(idx_t, ll_t.detach(), feats[:b].detach(), y_t)
        self.last_log_joint = float(log_joint.detach())
        self.recorder.record(
            self.num_steps, self.w, lp=self.last_log_joint, step_size=self.eta_theta
        )
        self.num_steps += 1
        return {"log_joint": self.last_log_joint, "loss": float(-ll_t.mean().detach())}

    def _update_weights(self, idx, ll, feats, y) -> None:
        if self.weight_net is not None:
            self._update_weight_net(idx, ll, feats, y)
            return
        if self.kernel == "gibbs":
            self.w[idx] = weight_conditional(
                self.prior.loc, self.prior.scale, ll, self.rho_w
            ).sample()
            return
        w = self.w[idx].clamp(1e-6, 1 - 1e-6)
        z = torch.logit(w).requires_grad_(True)
        w_of_z = torch.sigmoid(z)
        target = (
            self.prior.log_prob(w_of_z)
            + self.rho_w * w_of_z * ll
            + torch.log(w_of_z * (1 - w_of_z))  # log |dw/dz|
        ).sum()
        (grad,) = torch.autograd.grad(target, z)
        with torch.no_grad():
            z_new = self._weight_update(idx, z.detach(), grad)
            self.w[idx] = torch.sigmoid(z_new)

    def _weight_update(self, idx, z, grad):
        """The kernel's step on the minibatch's ``z``; psgld/sghmc state is per instance, kept
        in a full-size buffer of which only the rows ``idx`` move."""
        full = self.updates.state.get("w")
        new, s = self.updates.update(z, grad, None if full is None else full[idx], self.eta_w)
        if s is None:
            return new
        if full is None:
            full = (
                torch.zeros_like(self.w)
                if self.kernel == "sghmc"
                else torch.full_like(self.w, float(s.mean()))
            )
        full[idx] = s
        self.updates.state["w"] = full
        return new

    def _update_weight_net(self, idx, ll, feats, y) -> None:
        params = list(self.weight_net.parameters())
        w = self.weights_of(idx, feats, y, ll).clamp(1e-6, 1 - 1e-6)
        target = (
            -0.5 * self.lam * sum((p**2).sum() for p in params)
            + (self.n_t / len(idx)) * (self.prior.log_prob(w) + self.rho_phi * w * ll).sum()
        )
        grads = torch.autograd.grad(target, params)
        with torch.no_grad():
            for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                p.copy_(self.updates(f"phi{i}", p, g, self.eta_phi))
            # the batch's weights as the moved network gives them (as for per-instance w)
            self.w[idx] = self.weights_of(idx, feats, y, ll).clamp(1e-6, 1 - 1e-6)

    # ------------------------------------------------------------- results
    @property
    def weights(self) -> torch.Tensor:
        """Running average of ``w`` since ``average_from`` (the current ``w`` before that)."""
        if self.recorder.count == 0:
            return self.w.detach().cpu().clone()
        return self.recorder.average

    def selected(self, fraction: float | None = None, threshold: float | None = None) -> list[int]:
        """Indices of the selected subset: the top ``fraction`` of :attr:`weights`, or the
        instances whose average weight is at least ``threshold`` (give exactly one)."""
        if (fraction is None) == (threshold is None):
            raise ConfigError("give exactly one of fraction= or threshold=")
        if threshold is not None:
            return torch.nonzero(self.weights >= threshold).flatten().tolist()
        return top_fraction(self.weights, fraction)

    def to_inference_data(self, groups=None) -> Any:
        """This chain as ArviZ ``InferenceData`` (one chain; for several, pass each sampler's
        ``recorder`` to :func:`~bayes_dps.inference.inference_data.weights_to_inference_data`).
        ``groups``: a label per instance (all ``N_t``), stored in ``constant_data``."""
        rec = self.recorder
        if not rec.trace:
            raise ConfigError("no draws recorded yet: call step() first")
        labels = None if groups is None else np.asarray(groups)[rec.instances]
        spec = prior_spec(self.prior)
        return weights_to_inference_data(
            [np.stack(rec.trace)],
            rec.instances,
            labels,
            thin=rec.thin,
            sample_stats=[rec.stats],
            attrs={"warmup_steps": rec.avg_from, "prior": json.dumps(spec) if spec else None},
        )

    # ------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict[str, Any]:
        state = {
            "w": self.w.clone(),
            "num_steps": self.num_steps,
            "kernel": dict(self.updates.state),
            "recorder": self.recorder.state_dict(),
        }
        if self.weight_net is not None:
            state["weight_net"] = self.weight_net.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.w.copy_(state["w"])
        self.num_steps = int(state["num_steps"])
        self.updates.state = dict(state["kernel"])
        self.recorder.load_state_dict(state["recorder"])
        if self.weight_net is not None:
            self.weight_net.load_state_dict(state["weight_net"])


def default_weight_net(feature_dim: int, num_classes: int, hidden: int = 64) -> nn.Module:
    """``g_φ``: a small MLP on ``[features, onehot(label), −loss]`` → one logit."""
    return nn.Sequential(
        nn.Linear(feature_dim + num_classes + 1, hidden), nn.ReLU(), nn.Linear(hidden, 1)
    )
