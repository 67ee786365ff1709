"""BADS sampling for networks: one stochastic-gradient MCMC step per minibatch pair.

The joint of :func:`bayes_dps.models.bads.bads_model`, written with tensors so that a step
costs one forward/backward pass over ``B_t ∪ B_m`` (the paper's cost claim). A step is three
moves, each in its own module:

* ``θ`` (``theta.ThetaMove``): one SG-MCMC step on
  ``log p(θ) + ρ_t · mean_{i∈B_t} w_i ℓ_i + ρ_m · mean_{j∈B_m} ℓ_j``, ``ℓ_i = log p(z_i | θ)``;
* the normaliser (``normaliser.AuxiliaryChain``, when ``γ > 0``): one step of ``θ'`` on
  ``p(θ' | w, D_t)`` (on every ``normaliser_every``-th step; ``θ'`` is only evaluated on the
  others), giving ``ℓ̄_i ≈ E_{θ'}[log p(z_i | θ')]``;
* ``w_B`` (``weights``): per-instance weights by a gradient algorithm on ``logit w`` or the
  exact Gibbs draw, or the weight network's ``φ``, on the drift ``d_i = ℓ_i − γ ℓ̄_i``
  (optionally centred by its running mean, ``drift``).

``γ = 0`` is the paper's model (the weighted-data prior's normaliser ``Z(w)`` treated as
constant); ``γ = 1`` the exact one, whose marginal is ``p(w | D) ∝ p(w) E_{p(θ|w,D_t)}[p(D_m|θ)]``
— the Bayesian counterpart of the bilevel objective (``docs/methods.md``).

**Randomness and devices.** All noise comes from the sampler's own generators, one per move
(``θ``, ``θ'``, ``w`` or ``φ``), each seeded from ``seed``: a checkpoint restores them exactly,
every process of a distributed run draws the same numbers, and a move's noise does not depend
on whether another move ran — the fixed-weight twin (``fixed_weights``: ``w`` held at the prior
mean, the normaliser's chain not run, since it only feeds ``w``) takes exactly ``bads``'s ``θ``
noise, so while the weights agree its ``θ`` chain is ``bads``'s step for step.
Statistics (log joint, loss, a non-finite flag) stay on the device; :meth:`step` reads them
back only when ``check=True`` (the default, for hand-written loops). SG-MCMC updates run in
float32 whatever the forward pass's precision.

**Distributed** (``torch.distributed`` initialised): each rank passes its equal shard of the
global batches; gradients are summed over ranks, so every replica takes the same step with
the same noise; the weights each rank moves are all-gathered, so every rank holds the same
``w`` (``4·N_t`` bytes), its running average and trace.
"""

from __future__ import annotations

import dataclasses
import json
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
from torch import nn

from bayes_dps import distributed as dist
from bayes_dps.errors import ConfigError, DataError
from bayes_dps.inference.bads.drift import Drift
from bayes_dps.inference.bads.normaliser import AuxiliaryChain
from bayes_dps.inference.bads.settings import BADSSettings
from bayes_dps.inference.bads.theta import ThetaMove, data_term
from bayes_dps.inference.bads.weights import (
    GibbsWeights,
    InstanceWeights,
    LangevinWeights,
    WeightNetwork,
)
from bayes_dps.inference.inference_data import weights_to_inference_data
from bayes_dps.inference.sgmcmc import ALGORITHMS, SGLD
from bayes_dps.inference.weight_trace import WeightRecorder, top_fraction
from bayes_dps.models.likelihoods import Classification, Likelihood, LogLik, upcast
from bayes_dps.models.priors import TruncatedNormal, prior_on, prior_spec
from bayes_dps.nonfinite import FirstNonFinite


@dataclasses.dataclass
class StepPoint:
    """What :meth:`BADSSampler.objective` computed at the current ``(θ, w)``: the training
    batch, the log-likelihoods of both batches (``B_t``'s with features and logits), the
    batch's weights ``w_B``, ``θ``'s trainable tensors and ``log p̂(θ | w)``; the global batch
    sizes and impact constants."""

    batch_t: tuple
    out_t: LogLik
    ll_m: torch.Tensor
    w_b: torch.Tensor
    params: list[torch.Tensor]
    log_joint: torch.Tensor
    warming: bool
    big_b: int
    big_m: int
    rho_t: float
    rho_m: float

    def loss(self) -> torch.Tensor:
        """The negative data term of ``log p̂(θ | w)`` over ``ρ_t + ρ_m`` — a mean loss,
        ``−(ρ_t·mean_i w_i ℓ_i + ρ_m·mean_j ℓ_j)/(ρ_t + ρ_m)``, for a user's optimiser (which
        brings its own weight decay in place of the prior). Distributed, this rank's part:
        sum the gradients over ranks (or multiply by the world size where they are averaged)."""
        data = data_term(self.rho_t, self.rho_m, self.out_t.values, self.ll_m, self.w_b,
                         self.big_b, self.big_m)  # fmt: skip
        return -data / (self.rho_t + self.rho_m)


class BADSSampler:
    """Joint SG-MCMC over a network's trainable parameters ``θ`` (updated in place) and ``w``.

    Args:
        model: the network; its trainable parameters are ``θ`` (a frozen base with LoRA
            adapters: only the adapters are sampled).
        n_t: ``N_t``; n_m: ``N_m`` (global sizes).
        prior: ``p(w_i)`` (a distribution on [0, 1]); ``gibbs`` needs a ``TruncatedNormal``.
        likelihood: ``log p(z_i | θ)`` of a batch (default: softmax classification).
        weight_net: the ``g_φ`` of the weight-network variant (``None``: per-instance ``w``).
        init_w: initial weights (default: the prior mean).
        settings: a :class:`~bayes_dps.inference.bads.settings.BADSSettings`; keyword
            arguments (``eta_theta=3e-4``, ``kernel="psgld"``, ...) override its fields —
            kernel, impact constants ``ρ``, step sizes ``η``, temperatures, the normaliser's
            ``γ`` and auxiliary chain, weight warm-up, running average, trace, seed.
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
        weight_net: nn.Module | None = None,
        init_w: float | None = None,
        settings: BADSSettings | None = None,
        device: torch.device | str = "cpu",
        autocast=None,
        check_inputs: bool = True,
        **overrides: Any,
    ) -> None:
        base = dataclasses.asdict(settings) if settings is not None else {}
        s = self.settings = BADSSettings.build(**{**base, **overrides})
        if n_m < 1:
            raise ConfigError("BADS needs a non-empty meta set D_m (dataset.meta_per_class > 0)")
        if s.kernel == "gibbs" and (
            weight_net is not None or not isinstance(prior, TruncatedNormal)
        ):
            raise ConfigError(
                "bads.kernel=gibbs needs per-instance w with a truncated-normal prior"
            )
        self.device = torch.device(device)
        self.model, self.prior = model, prior_on(prior, self.device)
        self.likelihood = likelihood or Classification()
        self.n_t, self.n_m = n_t, n_m
        self.rho_t = float(n_t if s.rho_t is None else s.rho_t)
        self.rho_m = float(n_m if s.rho_m is None else s.rho_m)
        self.gamma = s.normaliser_weight
        self.generators = {
            name: torch.Generator(device=self.device).manual_seed(stream_seed(s.seed, i))
            for i, name in enumerate(STREAMS)
        }
        # gibbs draws w exactly; the gradient blocks (θ, θ') then move by SGLD
        algorithm = SGLD if s.kernel == "gibbs" else ALGORITHMS[s.kernel]
        self.theta = ThetaMove(algorithm(s.eta_theta, s.temperature), s.lam, self.rho_t, self.rho_m)
        self.normaliser = None
        if self.gamma > 0 and not s.fixed_weights:
            self.normaliser = AuxiliaryChain(
                model, algorithm(s.aux_step_size, s.aux_temperature), s.lam, self.rho_t, n_t,
                s.normaliser_window, s.normaliser_every, self.device,
            )  # fmt: skip
        start = float(prior.mean) if init_w is None else float(init_w)
        self.weights_move = weights_move(
            s, algorithm, n_t, start, self.prior, self.likelihood, weight_net, self.device
        )
        self.drift = Drift(self.gamma, s.drift_centring, s.drift_momentum, self.device)
        self.autocast = autocast or nullcontext
        self.num_steps = 0
        self.check_inputs = check_inputs
        self.recorder = WeightRecorder(
            n_t, s.average_from, s.thin, s.trace_max_instances, seed=s.trace_seed,
            device=self.device,
        )  # fmt: skip
        #: device-side running statistics since the last :meth:`read_statistics`
        self._loss_sum = torch.zeros((), device=self.device)
        self._log_joint = torch.zeros((), device=self.device)
        self._nonfinite = FirstNonFinite(self.device)
        self._steps_since = 0

    @property
    def w(self) -> torch.Tensor:
        """The current weights of all ``N_t`` instances."""
        return self.weights_move.w

    @property
    def theta_aux(self) -> dict[str, torch.Tensor] | None:
        """The auxiliary chain's ``θ'`` (``None`` without the normaliser)."""
        return None if self.normaliser is None else self.normaliser.params

    # ----------------------------------------------------------------- step
    def check_batches(self, batch_t, batch_m) -> None:
        """See :func:`check_batches`."""
        check_batches(self.model, self.n_t, batch_t, batch_m, labels=self.check_inputs)

    def step(self, batch_t, batch_m, *, check: bool = True) -> dict[str, Any]:
        """One joint step on ``B_t = (x, y, idx)`` and ``B_m = (x, y, idx)`` (this process's
        shards when distributed). Returns device tensors ``log_joint`` and ``loss``; with
        ``check`` a non-finite log joint raises here (a host sync), else at
        :meth:`raise_if_nonfinite`."""
        point = self.objective(batch_t, batch_m)
        self.theta.step(point.params, point.log_joint, self.generators["theta"])
        return self.advance(point, check=check)

    def objective(self, batch_t, batch_m) -> StepPoint:
        """The first half of a step: one forward pass over ``B_t ∪ B_m`` at the current ``θ``
        and ``w``, and ``log p̂(θ | w)`` of those batches (``theta.ThetaMove.log_joint``,
        differentiable in ``θ``). :meth:`step` moves ``θ`` on it with the SG-MCMC kernel; a
        loop whose own optimiser moves ``θ`` minimises :attr:`StepPoint.loss` instead, then
        calls :meth:`advance` (the weights move on this forward's ``ℓ_i``, as in :meth:`step`)."""
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
        warming = self.num_steps < self.settings.weight_warmup or self.settings.fixed_weights
        moves = self.weights_move
        w_b = (moves.w[idx_t] if warming else moves.weights_of(idx_t, out_t, y_t)).detach()
        params = [p for p in self.model.parameters() if p.requires_grad]
        log_joint = self.theta.log_joint(params, ll_t, ll_m, w_b, big_b, big_m)
        return StepPoint(batch_t, out_t, ll_m, w_b, params, log_joint, warming, big_b, big_m,
                         self.rho_t, self.rho_m)  # fmt: skip

    def advance(self, point: StepPoint, *, check: bool = True) -> dict[str, Any]:
        """The second half of a step, after ``θ`` moved: the auxiliary chain (``γ > 0``), the
        drift ``d_i = ℓ_i − γ ℓ̄_i`` and the weights' move, the statistics and the trace."""
        _, y_t, idx_t = point.batch_t
        moves, out_t = self.weights_move, point.out_t
        ll_aux, stats = None, {}
        if self.normaliser is not None:
            ll_aux, stats["aux_lp"] = self.normaliser.step(
                self.model, self.likelihood, point.batch_t, point.w_b, point.big_b,
                self.generators["aux"], self.autocast, t=self.num_steps)  # fmt: skip
        drift = self.drift(idx_t, out_t.values.detach(), ll_aux)
        if not point.warming:
            moves.move(idx_t, drift, out_t, y_t, point.big_b, self.generators["weights"])
        log_joint = point.log_joint.detach()
        loss = -out_t.values.detach().mean()
        self._loss_sum += loss
        self._log_joint = log_joint
        self._nonfinite.observe(log_joint, self.num_steps)
        self._steps_since += 1
        eta = self.settings.eta_theta
        self.recorder.record(self.num_steps, moves.w, moves.take_changed(), lp=log_joint,
                             step_size=eta, **stats)  # fmt: skip
        self.num_steps += 1
        if check:
            self.raise_if_nonfinite()
        return {"log_joint": log_joint, "loss": loss}

    # ------------------------------------------------------- statistics
    def watch_groups(self, masks: dict[str, np.ndarray]) -> None:
        """Sum ``ℓ_i``, ``ℓ̄_i`` and the drift per group (boolean masks over ``D_t``) at every
        step, read by ``drift.groups.read()`` (``inference.bads.drift.GroupDrift``)."""
        self.drift.watch(masks)

    def raise_if_nonfinite(self) -> None:
        """Raise :class:`NumericalError` naming the first step whose log joint was not finite
        (one host sync)."""
        self._nonfinite.raise_if_any(
            "BADS log joint is not finite at step {step}; lower bads.eta_theta or the impact "
            "constants"
        )

    def read_statistics(self) -> dict[str, float]:
        """Mean training loss since the last call and the latest log joint (one host sync)."""
        n = max(self._steps_since, 1)
        out = {"loss": float(self._loss_sum) / n, "log_joint": float(self._log_joint)}
        if self.normaliser is not None:
            out["aux_log_joint"] = self.normaliser.read_log_joint(n)
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
        """Indices of the selected subset (:func:`selected_indices` of :attr:`weights`)."""
        return selected_indices(self.weights, fraction, threshold)

    def to_inference_data(self, groups=None) -> Any:
        """This chain as ArviZ ``InferenceData`` (:func:`chain_inference_data`)."""
        return chain_inference_data(self, groups)

    # ------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict[str, Any]:
        state = {
            "layout": STATE_LAYOUT,
            "num_steps": self.num_steps,
            "theta": self.theta.state_dict(),
            "weights": self.weights_move.state_dict(),
            "generators": {k: g.get_state() for k, g in self.generators.items()},
            "recorder": self.recorder.state_dict(),
        }
        if self.normaliser is not None:
            state["normaliser"] = self.normaliser.state_dict()
        state["drift"] = self.drift.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("layout") != STATE_LAYOUT:
            raise ConfigError(
                "this BADS sampler state was written by bayes-dps 0.2 (one sampler class; its "
                "θ, w and normaliser states are now separate moves): it cannot be resumed by "
                "this version — delete the checkpoint to restart that run, or finish it with "
                "bayes-dps 0.2"
            )
        self.num_steps = int(state["num_steps"])
        self.theta.load_state_dict(state["theta"])
        self.weights_move.load_state_dict(state["weights"])
        for name, g in self.generators.items():
            g.set_state(state["generators"][name])
        self.recorder.load_state_dict(state["recorder"], w=self.weights_move.w)
        if self.normaliser is not None:
            self.normaliser.load_state_dict(state["normaliser"])
        self.drift.load_state_dict(state.get("drift", {}))


#: the layout of :meth:`BADSSampler.state_dict` (checkpoints of another layout are refused)
STATE_LAYOUT = 3
#: the sampler's random streams, one generator each
STREAMS = ("theta", "aux", "weights")


def stream_seed(seed: int, stream: int) -> int:
    """The seed of random stream ``stream`` of a sampler seeded ``seed`` (independent streams
    from one integer, by NumPy's ``SeedSequence``)."""
    return int(np.random.SeedSequence([int(seed), int(stream)]).generate_state(1, np.uint64)[0])


def check_batches(model: nn.Module, n_t: int, batch_t, batch_m, labels: bool = True) -> None:
    """Both batches ``(x, y, idx)``, non-empty, of matching lengths; with ``labels`` (a host
    sync per step) also labels in ``[0, k)`` (classification) and indices in ``[0, N_t)``."""
    for name, batch in (("training batch B_t", batch_t), ("meta batch B_m", batch_m)):
        if not isinstance(batch, tuple | list) or len(batch) != 3:
            raise DataError(f"the {name} must be a tuple (x, y, idx)")
        x, y, idx = batch
        if len(y) == 0:
            raise DataError(f"the {name} is empty; BADS needs points from D_t and D_m")
        if len(x) != len(y) or len(idx) != len(y):
            raise DataError(f"the {name} has {len(x)} inputs, {len(y)} labels, {len(idx)} indices")
        k = getattr(model, "num_classes", None)
        if labels and k is not None and y.dim() == 1:
            if int(y.min()) < 0 or int(y.max()) >= k:
                bad = int(y[(y < 0) | (y >= k)][0])
                raise DataError(f"label {bad} in the {name} is outside [0, {k})")
    idx_t = batch_t[2]
    if labels and (int(idx_t.min()) < 0 or int(idx_t.max()) >= n_t):
        raise DataError(
            f"an index of the training batch is outside [0, N_t={n_t}): idx are positions in "
            "D_t, as the package's datasets yield them"
        )


def weights_move(
    s: BADSSettings, algorithm, n_t: int, start: float, prior, likelihood, weight_net, device
) -> InstanceWeights:
    """The weight move the settings ask for: the weight network's ``φ``, the exact Gibbs draw,
    or a gradient algorithm on ``logit w``."""
    if weight_net is not None:
        return WeightNetwork(
            n_t, start, prior, weight_net, likelihood,
            algorithm(s.eta_phi, s.phi_temperature), s.rho_phi, s.lam, device,
            refresh_every=s.weight_net_refresh,
        )  # fmt: skip
    if s.kernel == "gibbs":
        return GibbsWeights(n_t, start, prior, s.rho_w, device)
    return LangevinWeights(n_t, start, prior, algorithm(s.eta_w, s.temperature_w), s.rho_w, device)


def chain_inference_data(sampler: BADSSampler, groups=None) -> Any:
    """This chain as ArviZ ``InferenceData`` (one chain; for several, pass each sampler's
    ``recorder`` to :func:`~bayes_dps.inference.inference_data.weights_to_inference_data`).
    ``groups``: a label per instance (all ``N_t``), stored in ``constant_data``."""
    rec = sampler.recorder
    if not rec.trace:
        raise ConfigError("no draws recorded yet: call step() first")
    labels = None if groups is None else np.asarray(groups)[rec.instances]
    spec = prior_spec(sampler.prior)
    return weights_to_inference_data(
        [np.stack(rec.trace)], rec.instances, labels, thin=rec.thin,
        sample_stats=[rec.stats],
        attrs={"warmup_steps": rec.avg_from, "prior": json.dumps(spec) if spec else None,
               "normaliser_weight": sampler.gamma},
    )  # fmt: skip


def selected_indices(
    weights: torch.Tensor, fraction: float | None = None, threshold: float | None = None
) -> list[int]:
    """The top ``fraction`` of ``weights``, or the instances whose weight is at least
    ``threshold`` (give exactly one)."""
    if (fraction is None) == (threshold is None):
        raise ConfigError("give exactly one of fraction= or threshold=")
    if threshold is not None:
        return torch.nonzero(weights >= threshold).flatten().tolist()
    return top_fraction(weights, fraction)
