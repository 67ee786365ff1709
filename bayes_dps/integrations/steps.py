"""The two methods' steps with the optimiser left out, shared by every integration.

Online selection (Deng et al. 2023, Algorithm 1): :func:`online_loss` selects ``b_t`` from
``B_t`` and gives the (importance-weighted) mean loss of ``b_t`` from one training forward;
after ``backward`` the caller's optimiser steps and :meth:`OnlineLoss.update` refreshes the
rule's state (the KFAC factors of Eq. 13) from that forward's logits and features — the
arithmetic of the package's own loop (``methods.online.loop.OnlineSelectionEpoch.step``).

BADS (Xu et al. 2024): ``BADSSampler.objective`` / ``.advance`` split the joint step around
the ``θ`` move, so the caller's optimiser can move ``θ`` on ``StepPoint.loss()``.

For a hand-written loop, :class:`SelectedBatches` and :class:`BADSBatches` make each method
three lines::

    for b in SelectedBatches(selector, BigBatchLoader(train, 320), n_b=32):
        loss = b.loss(model)                    # mean loss of b_t
        opt.zero_grad(); loss.backward(); opt.step()   # the posterior updates on next()

    for b in BADSBatches(sampler, BigBatchLoader(train, 64), BigBatchLoader(meta, 64)):
        loss = b.loss()                         # −(ρ_t·mean w ℓ + ρ_m·mean ℓ_m)/(ρ_t + ρ_m)
        opt.zero_grad(); loss.backward(); opt.step()   # w moves on next()

Distributed, every process holds the same ``B_t`` (as in the package's loop): each trains on its
equal share of ``b_t``; ``averaged=True`` scales the share's loss for wrappers that average
gradients over processes (DDP) instead of summing them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bayes_dps import distributed as dist
from bayes_dps.inference.bads import BADSSampler, StepPoint
from bayes_dps.integrations.inputs import batch_tensors
from bayes_dps.models.likelihoods import LogLik
from bayes_dps.selection.base import Selection
from bayes_dps.selection.selector import OnlineSelector
from bayes_dps.training.step import weighted_nll


@dataclass
class OnlineLoss:
    """One selection step's ``b_t`` and loss; :meth:`update` after the optimiser step."""

    x: torch.Tensor
    y: torch.Tensor
    idx: torch.Tensor
    selection: Selection
    loss: torch.Tensor
    losses: torch.Tensor
    out: LogLik

    @property
    def selected_idx(self) -> torch.Tensor:
        """The dataset indices of ``b_t``."""
        return self.idx[self.selection.positions]

    def update(self, selector: OnlineSelector) -> None:
        """The rule's update from the training forward's logits and features of ``b_t``
        (gathered over processes when distributed)."""
        logits, feats = self.out.logits.detach(), self.out.features.detach()
        if dist.active():
            logits, feats = dist.all_gather_cat(logits), dist.all_gather_cat(feats)
        selector.update(self.x, self.y, self.idx, self.selection, logits=logits, features=feats)


def online_loss(
    selector: OnlineSelector,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    idx: torch.Tensor,
    n_b: int,
    *,
    autocast=nullcontext,
    averaged: bool = False,
) -> OnlineLoss:
    """Select ``n_b`` of ``B_t = (x, y, idx)`` and compute this process's part of their mean
    loss (weighted by the rule's importance weights, where it has them)."""
    sel = selector.select(x, y, idx, n_b)
    pos, weights = sel.positions, sel.weights
    if dist.active():
        share = dist.shard(len(pos))
        pos, weights = pos[share], None if weights is None else weights[share]
    loss, losses, out = weighted_nll(
        model, x[pos], y[pos], weights, autocast=autocast, total=len(sel.positions)
    )
    if averaged and dist.active():
        loss = loss * dist.world_size()
    return OnlineLoss(x, y, idx, sel, loss, losses.detach(), out)


class SelectedBatch:
    """``b_t`` of one step of :class:`SelectedBatches`: call :meth:`loss` with the model."""

    def __init__(self, selector: OnlineSelector, batch: Any, n_b: int, autocast) -> None:
        self.selector, self.n_b, self.autocast = selector, n_b, autocast
        self.x, self.y, self.idx = batch_tensors(batch)
        self.step: OnlineLoss | None = None

    def loss(self, model: nn.Module) -> torch.Tensor:
        self.step = online_loss(
            self.selector, model, self.x, self.y, self.idx, self.n_b, autocast=self.autocast
        )
        return self.step.loss


class SelectedBatches:
    """Iterate ``loader``'s big batches as selected batches (module docstring); the rule is
    updated when the next batch is asked for (so after the loop body's optimiser step)."""

    def __init__(
        self, selector: OnlineSelector, loader: Iterable, n_b: int, *, autocast=nullcontext
    ) -> None:
        self.selector, self.loader, self.n_b, self.autocast = selector, loader, n_b, autocast

    def __iter__(self) -> Iterator[SelectedBatch]:
        for batch in self.loader:
            b = SelectedBatch(self.selector, batch, self.n_b, self.autocast)
            yield b
            if b.step is not None:
                b.step.update(self.selector)


class BADSBatch:
    """One ``(B_t, B_m)`` pair of :class:`BADSBatches`: :meth:`loss` for the user's optimiser."""

    def __init__(self, sampler: BADSSampler, batch_t: Any, batch_m: Any) -> None:
        self.sampler = sampler
        self.batch_t, self.batch_m = batch_tensors(batch_t), batch_tensors(batch_m)
        self.point: StepPoint | None = None

    def loss(self) -> torch.Tensor:
        self.point = self.sampler.objective(self.batch_t, self.batch_m)
        return self.point.loss()


class BADSBatches:
    """Pairs of a training and a meta batch; after the loop body's optimiser step the weights
    move (``BADSSampler.advance``). The meta loader cycles."""

    def __init__(self, sampler: BADSSampler, train: Iterable, meta: Iterable) -> None:
        self.sampler, self.train, self.meta = sampler, train, meta

    def __iter__(self) -> Iterator[BADSBatch]:
        meta = cycle(self.meta)
        for batch_t in self.train:
            b = BADSBatch(self.sampler, batch_t, next(meta))
            yield b
            if b.point is not None:
                self.sampler.advance(b.point, check=False)


def cycle(loader: Iterable) -> Iterator:
    """``loader``'s batches forever, epoch after epoch (``set_epoch`` where it has one)."""
    epoch = 0
    while True:
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        yield from loader
        epoch += 1
