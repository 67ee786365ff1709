"""The BADS loop in the trainer core (Xu et al. 2024, proof-of-concept protocol).

Training is counted in steps; the trainer's "epoch" is a block of ``eval_every`` steps, after
which the test metric is evaluated and a checkpoint written. Each step is one joint move of
the sampler on a minibatch of ``D_t`` and one of ``D_m`` (each process its share).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayes_dps import distributed as dist
from bayes_dps.data.batches import BatchStream
from bayes_dps.inference.bads import BADSSampler
from bayes_dps.tasks.groups import group_means
from bayes_dps.training.progress import StepHook


class BADSBlock(StepHook):
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
        self.steps_per_epoch = steps
        self.recorder, self.masks = sampler.recorder, masks
        sampler.watch_groups(masks)

    def run_epoch(self, block: int) -> dict[str, Any]:
        start = block * self.steps
        t_iter, m_iter = self.train.cycle(start), self.meta.cycle(start)
        for _ in range(self.steps):
            self.sampler.step(
                dist.local_shard(next(t_iter)), dist.local_shard(next(m_iter)), check=False
            )
            self.on_step()
        self.sampler.raise_if_nonfinite()
        stats = self.sampler.read_statistics()
        return {
            "steps": self.steps,
            "train_loss": stats.pop("loss"),
            **stats,
            "group_weights": group_means(self.sampler.w, self.masks),
            "group_drift": self.sampler.drift.groups.read(),
        }

    def state_dict(self) -> dict:
        return {"sampler": self.sampler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state["sampler"])
