"""The loop the look-ahead reweighting baselines share (``blo``, ``mwn``): each step takes a
minibatch of ``D_t`` and one of ``D_m``, computes a weight per training example from them
(the subclass's :meth:`MetaReweightingBlock.step_weights`), and takes one optimiser step on
the weighted loss; the weights are reported per instance at its latest visit."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from bayes_dps import distributed as dist
from bayes_dps.data.batches import BatchStream
from bayes_dps.inference.weight_trace import WeightRecorder
from bayes_dps.models.likelihoods import Likelihood
from bayes_dps.nonfinite import mean_loss
from bayes_dps.tasks.groups import group_means
from bayes_dps.training.progress import StepHook
from bayes_dps.training.step import sgd_step


class MetaReweightingBlock(StepHook):
    """``steps`` reweighted steps (an :class:`~bayes_dps.training.trainer.EpochStep`).

    Subclasses give :meth:`step_weights` (the loss weight of each point of ``B_t``, which is
    also the weight reported for it), ``fix`` (the settings to lower when the loss is not
    finite) and, if they carry state, :meth:`extra_state` / :meth:`load_extra_state`."""

    fix = "lower optimizer.lr"

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        train: BatchStream,
        meta: BatchStream,
        steps: int,
        recorder: WeightRecorder,
        masks: dict[str, np.ndarray],
        device: torch.device | str = "cpu",
        likelihood: Likelihood | None = None,
    ) -> None:
        self.model, self.optimizer, self.train, self.meta = model, optimizer, train, meta
        self.steps = self.steps_per_epoch = steps
        self.recorder, self.masks, self.likelihood = recorder, masks, likelihood
        self.w = torch.ones(len(train.dataset), device=device)

    def step_weights(self, x_t, y_t, x_m, y_m, n: int, step: int) -> torch.Tensor:
        """The loss weight of each point of this process's ``B_t`` (``n``: ``|B_t|`` over all
        processes; ``step``: the global step, from 0)."""
        raise NotImplementedError  # pragma: no cover

    def run_epoch(self, block: int) -> dict[str, Any]:
        start = block * self.steps
        t_iter, m_iter = self.train.cycle(start), self.meta.cycle(start)
        loss = torch.zeros((), device=self.w.device)
        for s in range(self.steps):
            batch_t, batch_m = next(t_iter), next(m_iter)
            n = len(batch_t[1])  # |B_t| over all processes
            (x_t, y_t, idx), (x_m, y_m, _) = dist.local_shard(batch_t), dist.local_shard(batch_m)
            w = self.step_weights(x_t, y_t, x_m, y_m, n, start + s)
            losses, _, _ = sgd_step(
                self.model, self.optimizer, x_t, y_t, weights=w, likelihood=self.likelihood,
                check=False, total=n,
            )  # fmt: skip
            idx_all = dist.all_gather_cat(idx)
            self.w[idx_all] = dist.all_gather_cat(w)
            self.recorder.record(start + s, self.w, idx_all)  # only the batch's w changed
            loss += losses.mean()
            self.on_step()
        where = f"in steps {start + 1}–{start + self.steps}"
        return {
            "steps": self.steps,
            "train_loss": mean_loss(loss, self.steps, where, self.fix),
            "group_weights": group_means(self.w, self.masks),
        }

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def state_dict(self) -> dict:
        return {"w": self.w.clone(), "recorder": self.recorder.state_dict(), **self.extra_state()}

    def load_state_dict(self, state: dict) -> None:
        self.w.copy_(state["w"])
        self.recorder.load_state_dict(state["recorder"], w=self.w)
        self.load_extra_state(state)
