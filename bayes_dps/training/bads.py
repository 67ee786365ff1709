"""BADS and its baselines in the trainer core (Xu et al. 2024, proof-of-concept protocol).

Training is counted in steps; the trainer's "epoch" is a block of ``eval_every`` steps, after
which the test metric is evaluated and a checkpoint written. Every method sees minibatches of
``batch_size`` from its training data (and, for BADS, ``meta_batch_size`` from ``D_m``):

* ``bads`` / ``bads_chain`` / ``bads_weightnet`` — joint SG-MCMC over θ and w
  (:class:`BADSSampler`; ``bads_chain`` keeps the weighted-data prior's normaliser with the
  weight ``bads.chain_normaliser_weight``, estimated by an auxiliary chain);
* ``mixing`` (D_t ∪ D_m), ``meta_only`` (D_m), ``dup_meta`` (D_t ∪ D_m repeated to the size
  of D_t), ``random_select`` (a random ``select_fraction`` of D_t, plus D_m) — AdamW/SGD on
  the plain cross-entropy;
* ``contrastive`` (CDS) and ``blo`` (L2RW look-ahead weights) — in their own modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from bayes_dps import distributed as dist
from bayes_dps.data.batches import BatchStream
from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.inference.bads_sampler import BADSSampler
from bayes_dps.models.likelihoods import Likelihood
from bayes_dps.training.trainer import mean_loss, sgd_step


def cycle(stream: BatchStream, start_step: int = 0) -> Iterator:
    """Batches of ``stream`` forever, epoch after epoch, starting at global step ``start_step``
    (so a resumed run continues exactly where it stopped)."""
    per_epoch = len(stream)
    epoch, skip = divmod(start_step, per_epoch)
    while True:
        for i, batch in enumerate(stream.epoch(epoch)):
            if i >= skip:
                yield batch
        epoch, skip = epoch + 1, 0


def local(batch):
    """This process's equal share of a global batch ``(x, y, idx)`` (all of it when not
    distributed)."""
    if not dist.active():
        return batch
    part = dist.shard(len(batch[1]))
    return tuple(t[part] for t in batch)


def group_means(w: torch.Tensor, masks: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean weight of each non-empty group (an empty group, such as ``noisy`` on clean data,
    is left out: it has no mean)."""
    w = w.detach().cpu()
    return {g: float(w[torch.as_tensor(m)].mean()) for g, m in masks.items() if m.any()}


class BADSBlock:
    """``steps`` joint BADS steps (an :class:`~bayes_dps.training.trainer.EpochStep`). The
    sampler's statistics stay on the device and are read once per block."""

    def __init__(
        self,
        sampler: BADSSampler,
        train: BatchStream,
        meta: BatchStream,
        steps: int,
        masks: dict[str, np.ndarray],
    ) -> None:
        self.sampler, self.train, self.meta, self.steps = sampler, train, meta, steps
        self.recorder, self.masks = sampler.recorder, masks

    def run_epoch(self, block: int) -> dict[str, Any]:
        start = block * self.steps
        t_iter, m_iter = cycle(self.train, start), cycle(self.meta, start)
        for _ in range(self.steps):
            self.sampler.step(local(next(t_iter)), local(next(m_iter)), check=False)
        self.sampler.raise_if_nonfinite()
        stats = self.sampler.read_statistics()
        return {
            "steps": self.steps,
            "train_loss": stats.pop("loss"),
            **stats,
            "group_weights": group_means(self.sampler.w, self.masks),
        }

    def state_dict(self) -> dict:
        return {"sampler": self.sampler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state["sampler"])


class SGDBlock:
    """``steps`` plain optimiser steps on a stream (the data baselines); the loss is summed on
    the device and read once per block."""

    def __init__(
        self,
        model,
        optimizer,
        stream: BatchStream,
        steps: int,
        likelihood: Likelihood | None = None,
        autocast=nullcontext,
    ) -> None:
        self.model, self.optimizer, self.stream, self.steps = model, optimizer, stream, steps
        self.likelihood, self.autocast = likelihood, autocast

    def run_epoch(self, block: int) -> dict[str, Any]:
        it = cycle(self.stream, block * self.steps)
        total = torch.zeros((), device=self.stream.device)
        for _ in range(self.steps):
            x, y, _ = next(it)
            n = len(y)
            x, y, _ = local((x, y, _))
            losses, _, _ = sgd_step(
                self.model, self.optimizer, x, y, likelihood=self.likelihood,
                autocast=self.autocast, check=False, total=n,
            )  # fmt: skip
            total += losses.mean()
        where = f"in steps {block * self.steps + 1}–{(block + 1) * self.steps}"
        loss = mean_loss(total, self.steps, where, "lower optimizer.lr or check the inputs")
        return {"steps": self.steps, "train_loss": loss}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def baseline_data(
    method: str, train: IndexedDataset, meta: IndexedDataset, select_fraction: float, seed: int
) -> IndexedDataset:
    """The training set of a data baseline (indices are positions in the returned set)."""
    if method == "mixing":
        return train.concat(meta)
    if method == "meta_only":
        return meta
    if method == "dup_meta":
        reps = max(1, int(np.ceil(len(train) / len(meta))))
        dup = meta
        for _ in range(reps - 1):
            dup = dup.concat(meta)
        return train.concat(dup)
    if method == "random_select":
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(train), round(select_fraction * len(train)), replace=False))
        return train.subset(keep).concat(meta)
    raise ValueError(method)


DATA_BASELINES = ("mixing", "meta_only", "dup_meta", "random_select")
#: methods whose weights are a posterior (traced, exported to ArviZ)
WEIGHT_METHODS = ("bads", "bads_chain", "bads_weightnet")
#: baselines that choose or weight data with D_m (training/contrastive.py, training/blo.py)
META_BASELINES = ("contrastive", "blo")
BADS_METHODS = (*WEIGHT_METHODS, *DATA_BASELINES, *META_BASELINES)
