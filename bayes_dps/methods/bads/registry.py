"""The methods of a ``bayes-dps bads`` config, by name, and how each is set up for one run.

* ``bads`` / ``bads_chain`` / ``bads_exact`` / ``bads_weightnet`` — joint SG-MCMC over ``θ``
  and ``w`` (:class:`~bayes_dps.inference.bads.BADSSampler`): ``bads`` is the paper's model
  (``γ = bads.normaliser_weight``, 0 in the configs: the weighted-data prior's normaliser
  dropped), ``bads_exact`` the exact model (``γ = 1``: the normaliser kept, its gradient from
  the auxiliary chain ``θ'``), ``bads_chain`` the family in between at
  ``γ = bads.chain_normaliser_weight``; ``bads_weightnet`` has a weight network;
* ``bads_fixed_w`` — the fixed-weight twin: the same sampler, step sizes, temperature, impact
  constants, batches and seeds as ``bads``, with ``w`` held at the prior mean (what the weights
  contribute is ``bads − bads_fixed_w``; it is also ``bads_chain``'s twin, the normaliser
  acting on ``θ`` only through ``w``);
* the data baselines ``mixing``, ``meta_only``, ``dup_meta``, ``random_select``
  (``baselines``) — plain minibatch steps with the config's optimiser;
* ``contrastive`` (CDS, ``contrastive``), ``classact`` (a curated-vs-uncurated classifier's
  probability as loss weights, ``classact``), ``askllm_o`` (the instruction-tuned model's
  "is this useful?" probability as loss weights, ``askllm``), ``blo`` (L2RW look-ahead
  weights, ``blo``) and ``mwn`` (Meta-Weight-Net, ``mwn``);
* the practitioner baselines that use no meta set: ``cleanlab`` (confident learning drops the
  flagged labels of ``D_t``, then mixing; ``methods.confident_learning``), ``class_balanced``
  (mixing with per-class loss weights) and ``resample`` (mixing with class-balanced sampling;
  ``data.class_balance``).

A builder takes a :class:`RunContext` and returns a :class:`Setup`: the trainer's epoch step,
its optimiser (checkpointed), and, for methods with per-instance weights, their recorder (or,
for ``contrastive``, ``classact`` and ``askllm_o``, the weights fixed before training).
Adding a method is adding an entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from bayes_dps.data.batches import BatchStream
from bayes_dps.data.class_balance import ClassBalancedStream, point_weights
from bayes_dps.inference.bads import BADSSampler, BADSSettings, default_weight_net
from bayes_dps.inference.bads.settings import CALLER_SETTINGS
from bayes_dps.inference.weight_trace import WeightRecorder, top_fraction
from bayes_dps.methods.bads.askllm import askllm_weights
from bayes_dps.methods.bads.baselines import DATA_BASELINES, baseline_data
from bayes_dps.methods.bads.blo import BLOBlock
from bayes_dps.methods.bads.classact import classact_weights
from bayes_dps.methods.bads.contrastive import contrastive_scores, fit_steps
from bayes_dps.methods.bads.loop import BADSBlock
from bayes_dps.methods.bads.mwn import MWNBlock
from bayes_dps.methods.confident_learning import find_label_issues
from bayes_dps.models.priors import build_weight_prior
from bayes_dps.training.epoch import MinibatchEpoch
from bayes_dps.training.optim import build_optimizer
from bayes_dps.training.precision import autocast_for


@dataclass
class RunContext:
    """One (method, seed) of a config: what every builder may use."""

    cfg: dict[str, Any]
    task: Any
    model: nn.Module
    seed: int
    device: torch.device
    steps: int  # the run's steps
    every: int  # steps per evaluation block
    masks: dict[str, np.ndarray]

    def stream(self, data, batch_size: int, seed: int) -> BatchStream:
        return BatchStream(
            data, min(batch_size, len(data)), seed=seed, device=self.device,
            num_workers=self.cfg["num_workers"],
        )  # fmt: skip

    def train_meta_streams(self) -> tuple[BatchStream, BatchStream]:
        """Minibatches of ``D_t`` and of ``D_m`` (methods that see both at every step)."""
        return (
            self.stream(self.task.train, self.cfg["batch_size"], self.seed),
            self.stream(self.task.meta, self.cfg["meta_batch_size"], self.seed + 10_000),
        )

    def trainable(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]


@dataclass
class Setup:
    step: Any  # an EpochStep
    optimizer: torch.optim.Optimizer
    recorder: WeightRecorder | None = None
    #: contrastive: its selection as 0/1 weights; classact, askllm_o: their loss weights
    fixed_weights: torch.Tensor | None = None


def trace_settings(cfg: dict[str, Any], steps: int) -> dict[str, int]:
    """Running average over the last ``s_avg`` steps; the traced instance subset depends on the
    data seed only, so the chains of all seeds line up."""
    b = cfg["bads"]
    return {
        "average_from": max(steps - b["s_avg"], 0),
        "thin": b["thin"],
        "trace_max_instances": b["trace_max_instances"],
        "trace_seed": cfg["dataset"]["seed"],
    }


def recorder_for(cfg: dict[str, Any], n_t: int, steps: int, device="cpu") -> WeightRecorder:
    t = trace_settings(cfg, steps)
    return WeightRecorder(
        n_t, t["average_from"], t["thin"], t["trace_max_instances"], seed=t["trace_seed"],
        device=device,
    )  # fmt: skip


def sampler_settings(
    cfg: dict[str, Any],
    steps: int,
    seed: int,
    *,
    normaliser: str | float,
    weight_net: bool = False,
    fixed_weights: bool = False,
) -> BADSSettings:
    """The sampler's settings from a config's ``bads`` section (``normaliser``: the key that
    holds this method's ``γ``, or ``γ`` itself)."""
    b = cfg["bads"]
    shared = {f.name: b[f.name] for f in fields(BADSSettings) if f.name not in CALLER_SETTINGS}
    return BADSSettings.build(
        **{
            **shared,
            **trace_settings(cfg, steps),
            "normaliser_weight": b[normaliser] if isinstance(normaliser, str) else normaliser,
            "weight_warmup": b["weight_net_warmup"] if weight_net else 0,
            "seed": seed,
            "fixed_weights": fixed_weights,
        }
    )


def _weights(
    run: RunContext,
    *,
    normaliser: str | float,
    weight_net: bool = False,
    fixed_weights: bool = False,
) -> Setup:
    """``bads``, ``bads_chain``, ``bads_weightnet``, ``bads_fixed_w``."""
    cfg, task = run.cfg, run.task
    likelihood = task.likelihood
    net = None
    if weight_net:
        if hasattr(task, "embeddings"):  # text: the base model's view of each example, cached
            likelihood.embeddings = task.embeddings(run.model)
        net = default_weight_net(likelihood.embed_dim(run.model), cfg["bads"]["weight_net_hidden"])
        net = net.to(run.device)
    sampler = BADSSampler(
        run.model, len(task.train), len(task.meta),
        prior=build_weight_prior(cfg["bads"]["prior"]), likelihood=likelihood, weight_net=net,
        settings=sampler_settings(cfg, run.steps, run.seed, normaliser=normaliser,
                                  weight_net=weight_net, fixed_weights=fixed_weights),
        device=run.device, autocast=autocast_for(cfg["precision"], run.device),
        check_inputs=False,  # the data were checked when loaded
    )  # fmt: skip
    train, meta = run.train_meta_streams()
    step = BADSBlock(sampler, train, meta, run.every, run.masks)
    optimizer = torch.optim.SGD(run.trainable(), lr=0.0)  # checkpointed, never stepped
    return Setup(step, optimizer, recorder=sampler.recorder)


def _blo(run: RunContext) -> Setup:
    cfg = run.cfg
    recorder = recorder_for(cfg, len(run.task.train), run.steps, run.device)
    optimizer = build_optimizer(run.trainable(), cfg["optimizer"])
    train, meta = run.train_meta_streams()
    step = BLOBlock(
        run.model, optimizer, train, meta, run.every, cfg["blo"]["inner_lr"], recorder,
        run.masks, device=run.device, likelihood=run.task.likelihood,
    )  # fmt: skip
    return Setup(step, optimizer, recorder=recorder)


def _mwn(run: RunContext) -> Setup:
    cfg = run.cfg
    recorder = recorder_for(cfg, len(run.task.train), run.steps, run.device)
    optimizer = build_optimizer(run.trainable(), cfg["optimizer"])
    train, meta = run.train_meta_streams()
    m = cfg["mwn"]
    step = MWNBlock(
        run.model, optimizer, train, meta, run.every, inner_lr=m["inner_lr"],
        meta_lr=m["meta_lr"], hidden=m["hidden"], recorder=recorder, masks=run.masks,
        device=run.device, likelihood=run.task.likelihood,
    )  # fmt: skip
    return Setup(step, optimizer, recorder=recorder)


def _sgd(
    run: RunContext, data, weights: torch.Tensor | None = None, stream: BatchStream | None = None
) -> Setup:
    optimizer = build_optimizer(run.trainable(), run.cfg["optimizer"])
    step = MinibatchEpoch(
        run.model, optimizer, stream or run.stream(data, run.cfg["batch_size"], run.seed),
        steps=run.every, likelihood=run.task.likelihood,
        autocast=autocast_for(run.cfg["precision"], run.device), weights=weights,
    )  # fmt: skip
    return Setup(step, optimizer)


def _data(run: RunContext, *, method: str) -> Setup:
    b = run.cfg["bads"]
    return _sgd(
        run, baseline_data(method, run.task.train, run.task.meta, b["select_fraction"], run.seed)
    )


def _contrastive(run: RunContext) -> Setup:
    task, device = run.task, run.device
    scores = contrastive_scores(
        lambda: task.build_model(device), task.train, task.meta, run.cfg, seed=run.seed,
        device=device, likelihood=task.likelihood,
    )  # fmt: skip
    keep = np.asarray(top_fraction(scores, run.cfg["bads"]["select_fraction"]))
    fixed = torch.zeros(len(task.train))
    fixed[torch.as_tensor(keep)] = 1.0
    setup = _sgd(run, task.train.subset(keep).concat(task.meta))
    setup.fixed_weights = fixed
    return setup


def _weighted_mixing(run: RunContext, weights: torch.Tensor) -> Setup:
    """A mixing run whose ``D_t`` losses are weighted by ``weights`` (``D_m``'s by 1)."""
    task = run.task
    setup = _sgd(
        run, task.train.concat(task.meta), torch.cat([weights, torch.ones(len(task.meta))])
    )
    setup.fixed_weights = weights
    return setup


def _cleanlab(run: RunContext) -> Setup:
    """Confident learning on ``D_t`` (K fold models of the run's network, each trained
    ``cleanlab.steps`` steps with the config's optimiser), then mixing on the kept points."""
    cfg, task, device = run.cfg, run.task, run.device
    c = cfg["cleanlab"]
    steps = int(min(c["steps"], cfg.get("step_limit") or c["steps"]))

    def fit(data, fold: int):
        return fit_steps(
            task.build_model(device), data, steps, cfg["optimizer"], cfg["batch_size"],
            run.seed + 100 * (fold + 1), device, task.likelihood,
        )  # fmt: skip

    found = find_label_issues(
        task.train, fit, folds=c["folds"], filter_by=c["filter_by"], seed=run.seed, device=device
    )
    setup = _sgd(run, task.train.subset(found.keep).concat(task.meta))
    setup.fixed_weights = torch.as_tensor(~found.issues, dtype=torch.float32)
    return setup


def _balanced_data(run: RunContext):
    return run.task.train.concat(run.task.meta)


def _class_balanced(run: RunContext) -> Setup:
    """Mixing with per-class loss weights from the labels of ``D_t ∪ D_m``."""
    data, b = _balanced_data(run), run.cfg["class_balance"]
    weights = point_weights(data.targets, data.num_classes, b["scheme"], b["beta"])
    setup = _sgd(run, data, weights)
    setup.fixed_weights = weights[: len(run.task.train)]
    return setup


def _resample(run: RunContext) -> Setup:
    """Mixing with class-balanced sampling of ``D_t ∪ D_m``; the reported weight of a point is
    its expected number of draws per epoch (1 = uniform)."""
    data = _balanced_data(run)
    stream = ClassBalancedStream(
        data, min(run.cfg["batch_size"], len(data)), seed=run.seed, device=run.device,
        num_workers=run.cfg["num_workers"],
    )  # fmt: skip
    setup = _sgd(run, data, stream=stream)
    p = stream.probabilities
    setup.fixed_weights = (p / p.sum() * len(data)).float()[: len(run.task.train)]
    return setup


def _classact(run: RunContext) -> Setup:
    task, device = run.task, run.device
    weights = classact_weights(
        lambda: task.build_model(device), task.train, task.meta, run.cfg, seed=run.seed,
        device=device, features=getattr(task, "frozen_features", None),
        likelihood=task.likelihood,
    )  # fmt: skip
    return _weighted_mixing(run, weights)


def _askllm_o(run: RunContext) -> Setup:
    # the run's own model, before training: the pretrained base (LoRA adapters disabled)
    a, task = run.cfg["askllm"], run.task
    weights = askllm_weights(
        run.model, task.tokenizer, task.raw.train, task.raw.meta, num_shots=a["shots"],
        max_length=a["max_length"], batch_size=run.cfg["eval_batch_size"],
    )  # fmt: skip
    return _weighted_mixing(run, weights)


METHODS: dict[str, Callable[[RunContext], Setup]] = {
    "bads": partial(_weights, normaliser="normaliser_weight"),
    "bads_chain": partial(_weights, normaliser="chain_normaliser_weight"),
    "bads_exact": partial(_weights, normaliser=1.0),
    "bads_weightnet": partial(_weights, normaliser="normaliser_weight", weight_net=True),
    "bads_fixed_w": partial(_weights, normaliser="normaliser_weight", fixed_weights=True),
    **{m: partial(_data, method=m) for m in DATA_BASELINES},
    "contrastive": _contrastive,
    "classact": _classact,
    "askllm_o": _askllm_o,
    "blo": _blo,
    "mwn": _mwn,
    "cleanlab": _cleanlab,
    "class_balanced": _class_balanced,
    "resample": _resample,
}
#: methods whose weights are a posterior (traced, exported to ArviZ)
WEIGHT_METHODS = ("bads", "bads_chain", "bads_exact", "bads_weightnet")
#: the fixed-weight twin of each weight method (the same θ chain, w held at the prior mean)
TWINS = {m: "bads_fixed_w" for m in WEIGHT_METHODS}
#: baselines that choose or weight data with D_m
META_BASELINES = ("contrastive", "classact", "askllm_o", "blo", "mwn")
#: practitioner baselines that need no meta set to choose or weight data
PRACTITIONER_BASELINES = ("cleanlab", "class_balanced", "resample")
BADS_METHODS = tuple(METHODS)
