"""Plain minibatch training as an epoch step of the trainer.

Two ways of counting, one loop: an epoch is a pass over the stream (``steps=None``; the
holdout model, SVP's proxy), or a block of ``steps`` optimiser steps whose batches cycle
through the stream's epochs from global step ``block · steps`` (the BADS protocol, whose
data baselines are evaluated every ``eval_every`` steps). Either way one process or many train
on the same global batches (each its share, gradients summed), and the loss is summed on the
device and read once at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from itertools import islice
from typing import Any

import torch
from torch import nn

from bayes_dps import distributed as dist
from bayes_dps.data.batches import Batch, BatchStream
from bayes_dps.models.likelihoods import Likelihood
from bayes_dps.nonfinite import mean_loss
from bayes_dps.training.progress import StepHook
from bayes_dps.training.step import sgd_step


class MinibatchEpoch(StepHook):
    """An :class:`~bayes_dps.training.trainer.EpochStep`: every batch one optimiser step on
    ``−mean w_i log p(z_i | θ)`` of ``likelihood`` (default: classification; ``w_i = 1``
    unless ``weights`` are given).

    Args:
        steps: ``None`` — an epoch is one pass over ``stream``; an integer — a block of that
            many steps (module docstring).
        step_limit: with ``steps=None``, stop after this many steps in all, counted across
            epochs (smoke tests).
        autocast: the forward pass's autocast context (mixed precision).
        weights: a loss weight per point of the stream's data (by position; ``None``: 1).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        stream: BatchStream,
        *,
        steps: int | None = None,
        step_limit: int | None = None,
        likelihood: Likelihood | None = None,
        autocast=nullcontext,
        weights: torch.Tensor | None = None,
    ) -> None:
        self.model, self.optimizer, self.stream = model, optimizer, stream
        self.weights = None if weights is None else weights.to(stream.device)
        self.steps, self.step_limit = steps, step_limit
        self.likelihood, self.autocast = likelihood, autocast

    @property
    def steps_per_epoch(self) -> int:
        return len(self.stream) if self.steps is None else self.steps

    def batches(self, epoch: int) -> Iterator[Batch]:
        if self.steps is not None:
            return islice(self.stream.cycle(epoch * self.steps), self.steps)
        limit = None if self.step_limit is None else self.step_limit - epoch * len(self.stream)
        return islice(self.stream.epoch(epoch), None if limit is None else max(limit, 0))

    def run_epoch(self, epoch: int) -> dict[str, Any]:
        total = torch.zeros((), device=self.stream.device)
        n = steps = 0
        for batch in self.batches(epoch):
            size = len(batch[1])  # over all processes
            x, y, idx = dist.local_shard(batch)
            weights = None if self.weights is None else self.weights[idx]
            losses, _, _ = sgd_step(
                self.model, self.optimizer, x, y, weights, likelihood=self.likelihood,
                autocast=self.autocast, check=False, total=size,
            )  # fmt: skip
            total += losses.sum()
            n += len(losses)
            steps += 1
            self.on_step()
        where = (
            f"in epoch {epoch + 1}"
            if self.steps is None
            else f"in steps {epoch * self.steps + 1}–{(epoch + 1) * self.steps}"
        )
        loss = mean_loss(total, n, where, "lower optimizer.lr or check the inputs for NaN/inf")
        return {"train_loss": loss, "steps": steps}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
