"""BADS sampling for networks: one stochastic-gradient MCMC step per minibatch pair.

The joint of :func:`bayes_dps.models.bads.bads_model`, written with tensors so that a step
costs one forward/backward pass over ``B_t ∪ B_m`` (the paper's cost claim). With ``ℓ_i =
log p(z_i | θ)`` from the model's :class:`~bayes_dps.models.likelihoods.Likelihood`:

    θ-gradient:  ∇ log p(θ) + ρ_t · mean_{i∈B_t} w_i ∇ℓ_i + ρ_m · mean_{j∈B_m} ∇ℓ_j
    w-update:    only the weights of the current minibatch move (block update of ``w_B``
                 given θ), on the unconstrained ``z_i = logit(w_i)`` with the log-Jacobian:
                 ∇_z [log p(w_i) + ρ_w · w_i · d_i] + ∇_z log|dw/dz|
                 — or, for ``kernel="gibbs"``, the exact draw ``w_i ~ TN(β + σ² ρ_w d_i, σ)``

with the drift ``d_i = ℓ_i − γ · ℓ̄_i``. ``ρ_w = 1`` makes the ``w_B`` block target the model's
conditional exactly; larger values sharpen the weights (the paper's tuned impact constant).

**The normaliser (``normaliser_weight`` γ).** The weighted-data prior ``p(θ | w, D_t) = p(θ)
Π_i p(z_i|θ)^{w_i} / Z(w)`` has ``∂ log Z / ∂w_i = E_{p(θ'|w, D_t)}[log p(z_i | θ')]``. With
``γ > 0`` an auxiliary chain ``θ'`` targets ``p(θ' | w, D_t)`` (the same kernel on the same
``B_t``, no meta term, its own step size ``eta_aux`` and temperature ``temperature_aux``), and
``ℓ̄_i = log p(z_i | θ')`` at its current state is an unbiased single-draw estimate of the
expectation. ``γ = 0`` is the paper's model (``Z`` treated as constant); ``γ = 1`` is the exact
model, whose marginal is ``p(w | D) ∝ p(w) E_{p(θ|w,D_t)}[p(D_m|θ)]`` — the weights under which
the training data's posterior best predicts the meta data, the Bayesian counterpart of the
bilevel objective; in between, the exact model with the weight prior ``p(w) Z(w)^{1−γ}``,
which favours low weights on points that are hard to fit. The ``θ`` update is unchanged
(``Z`` does not depend on ``θ``). Cost: one more forward/backward over ``B_t`` per step.

**Weight network.** ``w_i = sigmoid(g_φ(e_i))`` with ``e_i`` the likelihood's embedding
(``[h_θ(x_i), onehot(y_i), −ℓ_i]`` for classifiers, cached base-model embeddings for text);
``φ`` moves by the same kernel on ``−½λ‖φ‖² + (N_t/|B_t|) Σ_i [log p(w_i) + ρ_φ w_i d_i]``.

**Randomness and devices.** All noise comes from the sampler's own generator (``seed``), so a
checkpoint restores it exactly and every process of a distributed run draws the same numbers.
Statistics (log joint, loss, a non-finite flag) stay on the device; :meth:`step` reads them
back only when ``check=True`` (the default, for hand-written loops). SG-MCMC updates run in
float32 whatever the forward pass's precision.

**Distributed** (``torch.distributed`` initialised): each rank passes its equal shard of the
global batches; ``θ``'s (and ``θ'``'s, ``φ``'s) gradients are summed over ranks, so every
replica takes the same step with the same noise; the weights each rank updates (with its
slice of the global batch's noise) are all-gathered, so every rank holds the same ``w`` —
the full vector, ``4·N_t`` bytes per rank (40 MB at ``N_t = 10⁷``), the simplest layout that
keeps the running average, the trace and checkpoints identical everywhere.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
from torch import nn

from bayes_dps import distributed as dist
from bayes_dps.errors import ConfigError, DataError, NumericalError
from bayes_dps.inference.gibbs_weights import weight_conditional
from bayes_dps.inference.inference_data import weights_to_inference_data
from bayes_dps.inference.kernel_state import KERNELS, KernelState
from bayes_dps.inference.weight_trace import WeightRecorder, top_fraction
from bayes_dps.models.batchnorm import frozen_running_stats
from bayes_dps.models.likelihoods import Classification, Likelihood, LogLik, upcast
from bayes_dps.models.priors import TruncatedNormal, prior_on, prior_spec, unvalidated

__all__ = ["KERNELS", "BADSSampler", "default_weight_net"]


class BADSSampler:
    """Joint SG-MCMC over a network's trainable parameters ``θ`` (updated in place) and ``w``.

    Args:
        model: the network; its trainable parameters are ``θ`` (a frozen base with LoRA
            adapters: only the adapters are sampled).
        n_t: ``N_t``; n_m: ``N_m`` (global sizes).
        prior: ``p(w_i)`` (a distribution on [0, 1]); ``gibbs`` needs a ``TruncatedNormal``.
        likelihood: ``log p(z_i | θ)`` of a batch (default: softmax classification).
        lam: prior precision ``λ`` of ``θ`` (and ``φ``, ``θ'``).
        rho_t, rho_m, rho_w: impact constants (defaults ``N_t``, ``N_m``, 1).
        rho_phi: the weight network's ``ρ_φ``. ``w_i`` is then a deterministic function of
            ``φ``, so the weights sit near the conditional's mode ``clamp(β + σ² ρ d_i, 0, 1)``
            rather than its mean: ``ρ`` must be small enough that ``β + σ² ρ d_i > 0`` for
            well-fitted points, or every weight is 0.
        eta_theta, eta_w, eta_phi: step sizes of ``θ``, ``w`` (logit space) and ``φ``.
        temperature: ``T`` of the injected noise.
        temperature_w: ``T`` of the weights' (or ``φ``'s) noise, default ``temperature``. The
            paper runs ``θ`` cold; the weights are what BADS reports, and at ``T_w = 1`` their
            block samples its conditional rather than climbing to its mode, which is what lets
            chains from different seeds agree (group-mean R-hat near 1).
        kernel: ``sgld`` | ``psgld`` | ``sghmc`` | ``gibbs`` (exact ``w`` | θ, SGLD for θ).
        weight_net: the ``g_φ`` of the weight-network variant (``None``: per-instance ``w``).
        init_w: initial weights (default: the prior mean).
        weight_warmup: steps at the start during which ``w`` (or ``φ``) is held at its initial
            value and only ``θ`` moves. While the network is untrained every log-likelihood is
            low and ``ρ_w ℓ_i`` pushes all weights down alike; a weight network then saturates
            its sigmoid and cannot recover (its ``φ`` gradients vanish).
        normaliser_weight: ``γ ∈ [0, 1]`` (module docstring); ``eta_aux``, ``temperature_aux``:
            the auxiliary chain's step size and temperature (default: ``θ``'s).
        normaliser_window: ``K``: ``ℓ̄_i`` averages ``log p(z_i | θ')`` over the last ``K``
            visits of point ``i`` (a running mean up to ``K`` visits, then an exponential
            window of ``K``); 1 uses the current draw alone. The exact Gibbs draw needs a
            window: its conditional is nonlinear in ``ℓ̄_i``, so one noisy draw biases it.
        average_from: steps before this are burn-in for :attr:`weights` (the running average;
            a run of ``S`` steps with the paper's ``S_avg`` uses ``S − S_avg``).
        thin, trace_max_instances, trace_seed: the thinned trace behind
            :meth:`to_inference_data` (see ``inference.weight_trace.WeightRecorder``).
        seed: the sampler's generator (all Langevin noise, Gibbs draws).
        autocast: a callable giving the forward pass's autocast context (mixed precision).
        check_inputs: check every batch's labels and indices (read back to the host: a sync
            per step; the package's own loop, whose data were checked when loaded, turns it
            off). Empty batches are refused either way.

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
        likelihood: Likelihood | None = None,
        lam: float = 1e-4,
        rho_t: float | None = None,
        rho_m: float | None = None,
        rho_w: float = 1.0,
        rho_phi: float = 1.0,
        eta_theta: float = 1e-4,
        eta_w: float = 1e-2,
        eta_phi: float = 1e-5,
        temperature: float = 1.0,
        temperature_w: float | None = None,
        kernel: str = "sgld",
        weight_net: nn.Module | None = None,
        init_w: float | None = None,
        weight_warmup: int = 0,
        normaliser_weight: float = 0.0,
        eta_aux: float | None = None,
        temperature_aux: float | None = None,
        normaliser_window: int = 1,
        average_from: int = 0,
        thin: int = 1,
        trace_max_instances: int = 100_000,
        trace_seed: int = 0,
        seed: int = 0,
        device: torch.device | str = "cpu",
        autocast=None,
        check_inputs: bool = True,
    ) -> None:
        if n_m < 1:
            raise ConfigError("BADS needs a non-empty meta set D_m (dataset.meta_per_class > 0)")
        for name, eta in (
            ("bads.eta_theta", eta_theta),
            ("bads.eta_w", eta_w),
            ("bads.eta_phi", eta_phi),
            ("bads.eta_aux", eta_theta if eta_aux is None else eta_aux),
        ):
            if not eta > 0:
                raise ConfigError(f"{name} must be > 0, got {eta}")
        if not 0.0 <= normaliser_weight <= 1.0:
            raise ConfigError(f"bads.normaliser_weight must lie in [0, 1], got {normaliser_weight}")
        if kernel == "gibbs" and (weight_net is not None or not isinstance(prior, TruncatedNormal)):
            raise ConfigError(
                "bads.kernel=gibbs needs per-instance w with a truncated-normal prior"
            )
        self.device = torch.device(device)
        self.model, self.prior, self.lam = model, prior_on(prior, self.device), float(lam)
        self._prior_fast = unvalidated(self.prior)  # no host sync per step
        self.likelihood = likelihood or Classification()
        self.n_t, self.n_m = n_t, n_m
        self.rho_t = float(n_t if rho_t is None else rho_t)
        self.rho_m = float(n_m if rho_m is None else rho_m)
        self.rho_w, self.rho_phi = float(rho_w), float(rho_phi)
        self.eta_theta, self.eta_w, self.eta_phi = float(eta_theta), float(eta_w), float(eta_phi)
        self.temperature = float(temperature)
        self.kernel = kernel
        self.generator = torch.Generator(device=self.device).manual_seed(int(seed))
        self.updates = KernelState(kernel, temperature, self.generator)
        self.temperature_w = self.temperature if temperature_w is None else float(temperature_w)
        self.w_updates = KernelState(kernel, self.temperature_w, self.generator)
        self.weight_net = weight_net
        self.weight_warmup = int(weight_warmup)
        self.gamma = float(normaliser_weight)
        self.eta_aux = self.eta_theta if eta_aux is None else float(eta_aux)
        self.aux_updates = KernelState(
            kernel, self.temperature if temperature_aux is None else temperature_aux,
            self.generator,
        )  # fmt: skip
        self.theta_aux: dict[str, torch.Tensor] | None = None
        if int(normaliser_window) < 1:
            raise ConfigError(f"bads.normaliser_window must be >= 1, got {normaliser_window}")
        self.window = int(normaliser_window)
        if self.gamma > 0:  # θ' starts where θ starts
            self.theta_aux = {n: p.detach().clone() for n, p in self._theta_named()}
            self.aux_mean = torch.zeros(n_t, device=self.device)
            self.aux_visits = torch.zeros(n_t, device=self.device)
        self.autocast = autocast or nullcontext
        start = float(prior.mean) if init_w is None else float(init_w)
        self.w = torch.full((n_t,), start, device=self.device)
        self.num_steps = 0
        self.check_inputs = check_inputs
        self.recorder = WeightRecorder(
            n_t, average_from, thin, trace_max_instances, seed=trace_seed, device=self.device
        )
        #: device-side running statistics since the last :meth:`read_statistics`
        self._loss_sum = torch.zeros((), device=self.device)
        self._log_joint = torch.zeros((), device=self.device)
        self._aux_log_joint = torch.zeros((), device=self.device)
        self._first_bad = torch.full((), -1, dtype=torch.long, device=self.device)
        self._steps_since = 0

    # -------------------------------------------------------------- weights
    def _theta_named(self) -> list[tuple[str, torch.Tensor]]:
        return [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]

    def weights_of(
        self, idx: torch.Tensor, out: LogLik | None = None, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``w`` of the points ``idx`` (per-instance), or ``sigmoid(g_φ(e_i))`` with the
        likelihood's embedding of ``out`` (the points' forward pass) and labels ``y``."""
        if self.weight_net is None:
            return self.w[idx]
        e = self.likelihood.embed(out, y, idx)
        return torch.sigmoid(self.weight_net(e.float())).reshape(-1)

    # ----------------------------------------------------------------- step
    def check_batches(self, batch_t, batch_m) -> None:
        """Both batches non-empty, of matching lengths; labels in ``[0, k)`` (classification)
        and indices in ``[0, N_t)`` (with ``check_inputs``)."""
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
            k = getattr(self.model, "num_classes", None)
            if self.check_inputs and k is not None and y.dim() == 1:
                if int(y.min()) < 0 or int(y.max()) >= k:
                    bad = int(y[(y < 0) | (y >= k)][0])
                    raise DataError(f"label {bad} in the {name} is outside [0, {k})")
        idx_t = batch_t[2]
        if self.check_inputs and (int(idx_t.min()) < 0 or int(idx_t.max()) >= self.n_t):
            raise DataError(
                f"an index of the training batch is outside [0, N_t={self.n_t}): idx are "
                "positions in D_t, as the package's datasets yield them"
            )

    def step(self, batch_t, batch_m, *, check: bool = True) -> dict[str, Any]:
        """One joint step on ``B_t = (x, y, idx)`` and ``B_m = (x, y, idx)`` (this process's
        shards when distributed). Returns device tensors ``log_joint`` and ``loss``; with
        ``check`` a non-finite log joint raises here (a host sync), else at
        :meth:`raise_if_nonfinite`."""
        self.check_batches(batch_t, batch_m)
        (x_t, y_t, idx_t), (x_m, y_m, _) = batch_t, batch_m
        world = dist.world_size()
        b, big_b, big_m = len(y_t), len(y_t) * world, len(y_m) * world
        self.model.train()
        lik = self.likelihood
        x, y = lik.concat(x_t, x_m), lik.concat(y_t, y_m, target=True)
        with self.autocast():
            out = lik(self.model, x, y)
        ll = upcast(out.values)
        ll_t, ll_m = ll[:b], ll[b:]
        out_t = LogLik(ll_t, None if out.features is None else out.features[:b],
                       None if out.logits is None else out.logits[:b])  # fmt: skip
        warming = self.num_steps < self.weight_warmup
        w_b = (self.w[idx_t] if warming else self.weights_of(idx_t, out_t, y_t)).detach()
        named = self._theta_named()
        params = [p for _, p in named]
        log_prior = -0.5 * self.lam * sum((upcast(p) ** 2).sum() for p in params) / world
        log_joint = (
            (log_prior if params else 0.0)
            + self.rho_t * (w_b * ll_t).sum() / big_b
            + self.rho_m * ll_m.sum() / big_m
        )
        if params:  # (a frozen network leaves only the weights to sample)
            grads = list(torch.autograd.grad(log_joint, params))
            dist.all_reduce_sum_(grads)
            with torch.no_grad():
                for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                    p.copy_(self.updates(f"theta{i}", upcast(p), upcast(g), self.eta_theta))
        ll_aux, stats = None, {}
        if self.gamma > 0:
            ll_now, stats["aux_lp"] = self._aux_step(x_t, y_t, w_b, big_b)
            ll_aux = self._window_mean(idx_t, ll_now)
        if not warming:
            drift = ll_t.detach() if ll_aux is None else ll_t.detach() - self.gamma * ll_aux
            self._update_weights(idx_t, drift, out_t, y_t, big_b)
        log_joint = log_joint.detach()
        self._track(log_joint, -ll_t.detach().mean())
        self.recorder.record(
            self.num_steps, self.w, lp=log_joint, step_size=self.eta_theta, **stats
        )
        self.num_steps += 1
        if check:
            self.raise_if_nonfinite()
        return {"log_joint": log_joint, "loss": -ll_t.detach().mean()}

    def _aux_step(self, x_t, y_t, w_b, big_b) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of ``θ' ~ p(θ' | w, D_t)`` on ``B_t``; returns ``log p(z_i | θ')`` at the
        state before the step (the current draw) and the chain's minibatch log density,
        both detached."""
        names = list(self.theta_aux)
        leaves = {n: self.theta_aux[n].requires_grad_(True) for n in names}
        world = dist.world_size()
        # θ' must not move BatchNorm statistics; the backward runs before they are restored
        with frozen_running_stats(self.model):
            with self.autocast():
                out = self.likelihood(self.model, x_t, y_t, params=leaves)
            ll = upcast(out.values)
            log_prior = -0.5 * self.lam * sum((upcast(v) ** 2).sum() for v in leaves.values())
            target = log_prior / world + self.rho_t * (w_b * ll).sum() / big_b
            grads = list(torch.autograd.grad(target, list(leaves.values())))
        dist.all_reduce_sum_(grads)
        with torch.no_grad():
            for i, (n, g) in enumerate(zip(names, grads, strict=True)):
                self.theta_aux[n] = self.aux_updates(f"aux{i}", leaves[n].detach(), g, self.eta_aux)
        self._aux_log_joint += target.detach()
        return ll.detach(), target.detach()

    def _window_mean(self, idx: torch.Tensor, ll_aux: torch.Tensor) -> torch.Tensor:
        """``ℓ̄_i`` over the last ``K`` visits of each point of the batch (merged over ranks)."""
        if self.window == 1:
            return ll_aux
        visits = (self.aux_visits[idx] + 1).clamp(max=self.window)
        mean = self.aux_mean[idx] + (ll_aux.to(self.aux_mean.dtype) - self.aux_mean[idx]) / visits
        idx_all = dist.all_gather_cat(idx)
        self.aux_mean[idx_all] = dist.all_gather_cat(mean)
        self.aux_visits[idx_all] = dist.all_gather_cat(visits)
        return mean

    def _global_noise(self, local: torch.Tensor, big_b: int) -> torch.Tensor:
        """This rank's slice of a standard-normal draw for the whole global batch (the same
        numbers whatever the world size)."""
        full = torch.randn(
            (big_b, *local.shape[1:]), generator=self.generator, device=local.device,
            dtype=local.dtype,
        )  # fmt: skip
        return full[dist.shard(big_b)]

    def _update_weights(self, idx, drift, out_t, y, big_b) -> None:
        if self.weight_net is not None:
            self._update_weight_net(idx, drift, out_t, y, big_b)
            return
        if self.kernel == "gibbs":
            cond = weight_conditional(
                self.prior.loc, self.prior.scale, drift, self.rho_w, validate_args=False
            )
            u = torch.rand((big_b,), generator=self.generator, device=drift.device,
                           dtype=torch.float64)[dist.shard(big_b)]  # fmt: skip
            self._merge(idx, cond.icdf(u).to(self.w.dtype), None)
            return
        w = self.w[idx].clamp(1e-6, 1 - 1e-6)
        z = torch.logit(w).requires_grad_(True)
        w_of_z = torch.sigmoid(z)
        target = (
            self._prior_fast.log_prob(w_of_z)
            + self.rho_w * w_of_z * drift
            + torch.log(w_of_z * (1 - w_of_z))  # log |dw/dz|
        ).sum()
        (grad,) = torch.autograd.grad(target, z)
        with torch.no_grad():
            full = self.w_updates.state.get("w")
            state = None if full is None else full[idx]
            z_new, s = self.w_updates.update(
                z.detach(), grad, state, self.eta_w, noise=self._global_noise(z, big_b)
            )
            if s is not None and full is None:  # per-instance state, created on first use
                full = (
                    torch.zeros_like(self.w)
                    if self.kernel == "sghmc"
                    else torch.full_like(self.w, float(s.mean()))
                )
                self.w_updates.state["w"] = full
            self._merge(idx, torch.sigmoid(z_new), s)

    def _merge(self, idx, w_new, state_rows) -> None:
        """Write the batch's new weights (and per-instance kernel state) on every rank."""
        idx_all = dist.all_gather_cat(idx)
        self.w[idx_all] = dist.all_gather_cat(w_new)
        if state_rows is not None:
            self.w_updates.state["w"][idx_all] = dist.all_gather_cat(state_rows)

    def _update_weight_net(self, idx, drift, out_t, y, big_b) -> None:
        params = list(self.weight_net.parameters())
        w = self.weights_of(idx, out_t, y).clamp(1e-6, 1 - 1e-6)
        world = dist.world_size()
        target = (
            -0.5 * self.lam * sum((p**2).sum() for p in params) / world
            + (self.n_t / big_b) * (self._prior_fast.log_prob(w) + self.rho_phi * w * drift).sum()
        )
        grads = list(torch.autograd.grad(target, params))
        dist.all_reduce_sum_(grads)
        with torch.no_grad():
            for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                p.copy_(self.w_updates(f"phi{i}", p, g, self.eta_phi))
            # the batch's weights as the moved network gives them (as for per-instance w)
            self._merge(idx, self.weights_of(idx, out_t, y).clamp(1e-6, 1 - 1e-6), None)

    # ------------------------------------------------------- statistics
    def _track(self, log_joint: torch.Tensor, loss: torch.Tensor) -> None:
        self._loss_sum += loss
        self._log_joint = log_joint
        bad = ~torch.isfinite(log_joint)
        first = self._first_bad
        self._first_bad = torch.where(
            (first < 0) & bad, torch.full_like(first, self.num_steps), first
        )
        self._steps_since += 1

    def raise_if_nonfinite(self) -> None:
        """Raise :class:`NumericalError` naming the first step whose log joint was not finite
        (one host sync)."""
        first = int(self._first_bad)
        if first >= 0:
            raise NumericalError(
                f"BADS log joint is not finite at step {first + 1}; lower bads.eta_theta or the "
                "impact constants"
            )

    def read_statistics(self) -> dict[str, float]:
        """Mean training loss since the last call and the latest log joint (one host sync)."""
        n = max(self._steps_since, 1)
        out = {"loss": float(self._loss_sum) / n, "log_joint": float(self._log_joint)}
        if self.gamma > 0:
            out["aux_log_joint"] = float(self._aux_log_joint) / n
            self._aux_log_joint.zero_()
        self._loss_sum.zero_()
        self._steps_since = 0
        return out

    @property
    def last_log_joint(self) -> float:
        return float(self._log_joint)

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
        trace = rec.trace
        if not trace:
            raise ConfigError("no draws recorded yet: call step() first")
        labels = None if groups is None else np.asarray(groups)[rec.instances]
        spec = prior_spec(self.prior)
        return weights_to_inference_data(
            [np.stack(trace)],
            rec.instances,
            labels,
            thin=rec.thin,
            sample_stats=[rec.stats],
            attrs={
                "warmup_steps": rec.avg_from,
                "prior": json.dumps(spec) if spec else None,
                "normaliser_weight": self.gamma,
            },
        )

    # ------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict[str, Any]:
        state = {
            "w": self.w.clone(),
            "num_steps": self.num_steps,
            "kernel": dict(self.updates.state),
            "w_kernel": dict(self.w_updates.state),
            "generator": self.generator.get_state(),
            "recorder": self.recorder.state_dict(),
        }
        if self.weight_net is not None:
            state["weight_net"] = self.weight_net.state_dict()
        if self.theta_aux is not None:
            state["theta_aux"] = {k: v.clone() for k, v in self.theta_aux.items()}
            state["aux_kernel"] = dict(self.aux_updates.state)
            state["aux_mean"], state["aux_visits"] = self.aux_mean.clone(), self.aux_visits.clone()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.w.copy_(state["w"])
        self.num_steps = int(state["num_steps"])
        self.updates.state = dict(state["kernel"])
        self.w_updates.state = dict(state["w_kernel"])
        self.generator.set_state(state["generator"])
        self.recorder.load_state_dict(state["recorder"])
        if self.weight_net is not None:
            self.weight_net.load_state_dict(state["weight_net"])
        if self.theta_aux is not None:
            self.theta_aux = {k: v.to(self.device) for k, v in state["theta_aux"].items()}
            self.aux_updates.state = dict(state["aux_kernel"])
            self.aux_mean.copy_(state["aux_mean"])
            self.aux_visits.copy_(state["aux_visits"])


def default_weight_net(in_features: int, hidden: int = 64) -> nn.Module:
    """``g_φ``: a small MLP from the likelihood's embedding of a point to one logit."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, 1))
