"""PyTorch Lightning modules for online selection and BADS.

Each wraps the user's network and does what the package's own loop does, inside Lightning's
loop, so Lightning's logging, checkpoints and devices apply::

    module = OnlineSelectionModule(model, selector, n_b=32, optimizer=lambda p: SGD(p, 0.1))
    trainer = L.Trainer(max_epochs=3, use_distributed_sampler=False)
    trainer.fit(module, BigBatchLoader(train, 320, seed=0))

    module = BADSModule(model, sampler, BigBatchLoader(meta, 64, seed=1), theta="sgld")

The training loader must be a ``BigBatchLoader`` (Lightning calls its sampler's ``set_epoch``),
and ``use_distributed_sampler=False`` keeps Lightning from replacing its sampler: under DDP
every process loads the same ``B_t`` and trains on its equal share of ``b_t`` (BADS: of ``B_t``
and ``B_m``), as the package's own distributed loop does — the selection, ``w`` and ``θ`` equal
one process's up to the order of float sums (tested on 2 CPU processes). The method's state (the
rule's posterior, the sampler's ``θ`` kernel state, ``w``, trace and generators) is saved in
Lightning's checkpoints under ``"bayes_dps"`` and restored by ``fit(ckpt_path=...)``; resume
from a checkpoint written at an epoch's end (the loader's position inside an epoch is not
saved). Statistics (``integrations.statistics``) are logged every ``log_every_n_steps``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from bayes_dps import distributed as dist
from bayes_dps.errors import ConfigError
from bayes_dps.inference.bads import BADSSampler
from bayes_dps.integrations.inputs import (
    batch_tensors,
    check_n_b,
    check_no_accumulation,
    check_theta,
)
from bayes_dps.integrations.loaders import BigBatchLoader, BigBatchSampler
from bayes_dps.integrations.state import portable, restored
from bayes_dps.integrations.statistics import BADSLog, SelectionLog
from bayes_dps.integrations.steps import online_loss
from bayes_dps.selection.selector import OnlineSelector

OptimizerFactory = Callable[[Any], torch.optim.Optimizer]


class KernelMovesTheta(torch.optim.Optimizer):
    """The optimiser Lightning is given when the sampler's SG-MCMC kernel moves ``θ``: its step
    does nothing (``θ`` has moved already), and calling it counts the step, so ``max_steps``,
    ``log_every_n_steps`` and step-based checkpoints work as with any optimiser."""

    def __init__(self, params: Any) -> None:
        super().__init__(params, {})

    def step(self, closure: Callable | None = None) -> None:
        return None


class _MethodModule(L.LightningModule):
    """Checkpointing of the method's state, logging and the checks of the set-up."""

    def setup(self, stage: str) -> None:
        connector = self.trainer._accelerator_connector
        if self.trainer.world_size > 1 and getattr(connector, "use_distributed_sampler", False):
            raise ConfigError(
                "every process must load the same big batch B_t: pass "
                "use_distributed_sampler=False to lightning.Trainer (the BigBatchLoader orders "
                "the data itself)"
            )
        check_no_accumulation("accumulate_grad_batches", self.trainer.accumulate_grad_batches)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["bayes_dps"] = portable(self.method_state_dict())

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "bayes_dps" not in checkpoint:
            raise ConfigError(
                "the checkpoint has no 'bayes_dps' state: it was not written by this module, so "
                "the selection or sampler state cannot be restored; resume from one it saved"
            )
        self.load_method_state_dict(restored(checkpoint["bayes_dps"]))

    def _check_order(self, batch_idx: int, idx: torch.Tensor) -> None:
        """The first batch of each epoch must be that epoch's first big batch: Lightning makes a
        resumed run's first iterator before it sets the epoch, and worker processes fetch
        their indices then."""
        if batch_idx != 0:
            return
        sampler = getattr(self.trainer.train_dataloader, "batch_sampler", None)
        if not isinstance(sampler, BigBatchSampler):
            raise ConfigError(
                "the training loader must be a bayes_dps.integrations.BigBatchLoader (with "
                "use_distributed_sampler=False), which orders the big batches B_t"
            )
        expected = sampler.batch(self.current_epoch, 0)
        if idx.tolist() != expected:
            raise ConfigError(
                f"epoch {self.current_epoch} began with another epoch's batch: the loader's "
                "worker processes fetched their indices before Lightning set the epoch (it does "
                "so on resume); resume with num_workers=0"
            )

    def _log_method(self, **extra: torch.Tensor) -> None:
        """The method's statistics (and ``extra``) every ``log_every_n_steps``: only then, as
        ``self.log`` costs a step of a small model a good part of its time."""
        every = max(int(self.trainer.log_every_n_steps), 1)
        if (self.method_steps % every) == 0 and (stats := {**self.method_log.read(), **extra}):
            self.log_dict(stats, on_step=True, on_epoch=False)


class OnlineSelectionModule(_MethodModule):
    """Online batch selection (Deng et al. 2023, Algorithm 1) on ``model``.

    Args:
        model: the network (with ``forward_with_features`` and a linear ``head``).
        selector: an :class:`~bayes_dps.selection.selector.OnlineSelector` on ``model``.
        n_b: points trained on per step (out of the loader's ``n_B``).
        optimizer: builds the optimiser from ``model.parameters()``.
        groups: boolean masks over the training set; the selected share of each is logged.
    """

    def __init__(
        self,
        model: nn.Module,
        selector: OnlineSelector,
        n_b: int,
        optimizer: OptimizerFactory,
        groups: dict[str, np.ndarray] | None = None,
    ) -> None:
        super().__init__()
        self.model, self.selector, self.n_b = model, selector, n_b
        self.optimizer_factory = optimizer
        self.method_log = SelectionLog(selector, groups)
        self.method_steps = 0

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y, idx = batch_tensors(batch)
        self._check_order(batch_idx, idx)
        check_n_b(self.n_b, len(y))
        step = online_loss(self.selector, self.model, x, y, idx, self.n_b, averaged=True)
        step.update(self.selector)  # from this forward: the same before or after θ moves
        self.method_log.observe(step.selected_idx)
        self.method_steps += 1
        self._log_method(train_loss=step.losses.mean())
        return step.loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.model.parameters())

    def method_state_dict(self) -> dict[str, Any]:
        return {"selector": self.selector.state_dict(), "steps": self.method_steps}

    def load_method_state_dict(self, state: dict[str, Any]) -> None:
        self.selector.load_state_dict(state["selector"])
        self.method_steps = int(state["steps"])


class BADSModule(_MethodModule):
    """BADS (Xu et al. 2024) on ``model``: each step one joint move on a training batch and the
    meta batch of that step.

    Args:
        model: the network the sampler moves.
        sampler: a :class:`~bayes_dps.inference.bads.BADSSampler` on ``model``.
        meta: ``D_m``'s batches (a :class:`BigBatchLoader`; step ``t`` takes ``batch_at(t)``).
        theta: ``sgld`` (the sampler's kernel moves ``θ``; Lightning is given
            :class:`KernelMovesTheta`, which only counts the steps) or ``optimizer``
            (``optimizer`` minimises ``StepPoint.loss()``, the weights move after
            each of its steps).
        optimizer: builds the optimiser (``theta="optimizer"``).
        groups: boolean masks over ``D_t``; each group's mean weight is logged.
    """

    def __init__(
        self,
        model: nn.Module,
        sampler: BADSSampler,
        meta: BigBatchLoader,
        theta: str = "sgld",
        optimizer: OptimizerFactory | None = None,
        groups: dict[str, np.ndarray] | None = None,
    ) -> None:
        super().__init__()
        check_theta(theta)
        if theta == "optimizer" and optimizer is None:
            raise ConfigError("theta='optimizer' needs optimizer= (a factory of the optimiser)")
        if sampler.n_m != len(meta.dataset):
            raise ConfigError(
                f"the sampler's n_m={sampler.n_m} but the meta loader has {len(meta.dataset)} "
                "rows: build the BADSSampler with n_m=len(meta_dataset)"
            )
        self.model, self.sampler, self.meta, self.theta = model, sampler, meta, theta
        self.optimizer_factory = optimizer
        self.automatic_optimization = theta == "optimizer"
        self.method_log = BADSLog(sampler, groups)
        self._pending = None

    @property
    def method_steps(self) -> int:
        return self.sampler.num_steps

    def _batches(self, batch: Any, batch_idx: int) -> tuple[tuple, tuple]:
        """This process's shares of ``B_t`` and of step ``t``'s meta batch."""
        batch_t = batch_tensors(batch)
        self._check_order(batch_idx, batch_t[2])
        meta = batch_tensors(self.meta.batch_at(self.sampler.num_steps))
        batch_m = tuple(t.to(batch_t[0].device) for t in meta)
        return dist.local_shard(batch_t), dist.local_shard(batch_m)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        batch_t, batch_m = self._batches(batch, batch_idx)
        if self.theta == "sgld":
            self.sampler.step(batch_t, batch_m, check=False)
            self.optimizers().step()  # counts the step (KernelMovesTheta: θ moved already)
            self._log_method()  # bads/train_loss among them
            return None
        self._pending = self.sampler.objective(batch_t, batch_m)
        return self._pending.loss() * dist.world_size()  # a share; DDP averages gradients

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self._pending is not None:  # after the optimiser step: the weights' move
            self.sampler.advance(self._pending, check=False)
            self._pending = None
            self._log_method()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        if self.theta == "sgld":
            return KernelMovesTheta(params)
        return self.optimizer_factory(params)

    def method_state_dict(self) -> dict[str, Any]:
        return {"sampler": self.sampler.state_dict()}

    def load_method_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])
