"""Hugging Face ``Trainer`` with online selection or BADS.

Two mix-ins, each placed before a trainer class in the bases (the ready-made
:class:`OnlineSelectionTrainer` and :class:`BADSTrainer` put them before ``Trainer``; TRL's
instruction tuning is ``class BADSSFTTrainer(BADSMixin, SFTTrainer)``, tested with TRL 1.16,
its ``D_m`` prepared as its ``train_dataset`` by :meth:`BADSMixin.prepare_meta_dataset`)::

    trainer = OnlineSelectionTrainer(model=HFClassifier(hf_model), args=args,
                                     train_dataset=train, selector=selector, n_b=32)
    trainer = BADSTrainer(model=lm, args=args, train_dataset=train, meta_dataset=meta,
                          sampler=BADSSampler(lm, len(train), len(meta), ...), theta="sgld")

What they change, and nothing else:

* the training loader: big batches in the package's seeded order
  (``integrations.loaders.BigBatchLoader``, ``per_device_train_batch_size`` = ``n_B``), every
  row carrying its index past the collator;
* the training step: online selection scores ``B_t``, trains on the selected ``b_t`` and
  updates the rule from that forward (``integrations.steps.online_loss``); BADS takes a meta
  batch of step ``t`` from ``meta_dataset`` and either moves ``θ`` by the sampler's SG-MCMC
  kernel (``theta="sgld"``: the Trainer's optimiser then sees no gradient and does nothing)
  or lets the Trainer's optimiser minimise ``StepPoint.loss()`` (``theta="optimizer"``), the
  weights moving after each optimiser step;
* the logs: selection statistics (``selection/…``) or the weights' summary (``bads/…``) join
  the Trainer's own at each logging step, so they reach TensorBoard, W&B or the console;
* the checkpoints: the rule's or sampler's state (posterior, generators, ``w``, trace) is
  saved in each checkpoint folder as ``bayes_dps_state.pt`` and restored by
  ``train(resume_from_checkpoint=...)``; with the seeded loader, a resumed run continues
  exactly as an uninterrupted one.

One process, no gradient accumulation (a step is one selection or one joint move); the
package's own loops run distributed.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from bayes_dps.errors import ConfigError
from bayes_dps.inference.bads import BADSSampler, StepPoint
from bayes_dps.integrations.inputs import (
    batch_tensors,
    check_meta_classes,
    check_n_b,
    check_no_accumulation,
    check_theta,
)
from bayes_dps.integrations.loaders import BigBatchLoader
from bayes_dps.integrations.state import portable, restored
from bayes_dps.integrations.statistics import BADSLog, SelectionLog
from bayes_dps.integrations.steps import online_loss
from bayes_dps.models.likelihoods import Classification
from bayes_dps.selection.selector import OnlineSelector

#: the file in each checkpoint folder that holds the method's state
STATE_FILE = "bayes_dps_state.pt"


class _MethodState:
    """Saves ``method_state_dict()`` with each Trainer checkpoint and restores it on resume."""

    def _check_trainer(self) -> None:
        if self.args.world_size > 1:
            raise ConfigError(
                f"the Trainer integration runs in one process (world size "
                f"{self.args.world_size}); run distributed with bayes_dps.integrations.lightning "
                "or the package's own loops"
            )
        check_no_accumulation("gradient_accumulation_steps", self.args.gradient_accumulation_steps)

    def get_train_dataloader(self) -> BigBatchLoader:
        return BigBatchLoader(
            self.train_dataset, self._train_batch_size, seed=self.args.data_seed or self.args.seed,
            collate_fn=self.data_collator, num_workers=self.args.dataloader_num_workers,
        )  # fmt: skip

    def _save_checkpoint(self, model, trial) -> None:
        super()._save_checkpoint(model, trial)
        folder = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        path = os.path.join(self._get_output_dir(trial=trial), folder, STATE_FILE)
        if self.args.should_save:
            torch.save(portable(self.method_state_dict()), path)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        path = os.path.join(resume_from_checkpoint, STATE_FILE)
        if not os.path.exists(path):
            raise ConfigError(
                f"{resume_from_checkpoint} has no {STATE_FILE}: it was not written by a "
                "bayes-dps trainer, so the selection or sampler state cannot be restored; "
                "resume from a checkpoint this trainer saved, or start afresh"
            )
        state = torch.load(path, map_location="cpu", weights_only=True)  # runs no code
        self.load_method_state_dict(restored(state))

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if "loss" in logs:  # a training log: add the method's statistics since the last one
            logs = {**logs, **self.method_log.read()}
        super().log(logs, *args, **kwargs)


class OnlineSelectionMixin(_MethodState):
    """Online batch selection inside a Hugging Face trainer (module docstring).

    Args:
        selector: an :class:`~bayes_dps.selection.selector.OnlineSelector` on the trained
            model (for a Hugging Face classifier, wrap it in ``HFClassifier``).
        n_b: points trained on per step, out of ``n_B = per_device_train_batch_size``.
        groups: boolean masks over the training set (e.g. ``{"noisy": flags}``): the share of
            each among the selected points is logged as ``selection/<name>``.
    """

    def __init__(
        self,
        *args: Any,
        selector: OnlineSelector,
        n_b: int,
        groups: dict[str, np.ndarray] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._check_trainer()
        self.selector = selector
        self.n_b = check_n_b(n_b, self.args.per_device_train_batch_size)
        self.method_log = SelectionLog(selector, groups)
        batch_tensors(self.get_train_dataloader().batch_at(0))  # labels and index, before training

    def training_step(self, model, inputs, num_items_in_batch=None) -> torch.Tensor:
        model.train()
        x, y, idx = batch_tensors(self._prepare_inputs(inputs))
        step = online_loss(self.selector, self.accelerator.unwrap_model(model), x, y, idx, self.n_b)
        self.accelerator.backward(step.loss)
        step.update(self.selector)  # the posterior reads the forward, not the new θ
        self.method_log.observe(step.selected_idx)
        self.method_log_last = step.selected_idx
        return step.loss.detach()

    def method_state_dict(self) -> dict[str, Any]:
        return {"selector": self.selector.state_dict()}

    def load_method_state_dict(self, state: dict[str, Any]) -> None:
        self.selector.load_state_dict(state["selector"])


class _AdvanceWeights(TrainerCallback):
    """Moves the weights once the Trainer's optimiser has moved ``θ``."""

    def __init__(self, trainer: BADSMixin) -> None:
        self.trainer = trainer

    def on_optimizer_step(self, args, state, control, **kwargs):
        self.trainer.advance_weights()


class BADSMixin(_MethodState):
    """BADS inside a Hugging Face trainer (module docstring).

    Args:
        sampler: a :class:`~bayes_dps.inference.bads.BADSSampler` on the trained model, with
            ``n_t = len(train_dataset)`` and ``n_m = len(meta_dataset)``.
        meta_dataset: the curated ``D_m``, rows in the training set's form (tokenised as the
            trainer's collator expects them).
        theta: ``sgld`` (the sampler's kernel moves ``θ``) or ``optimizer`` (the Trainer's).
        meta_batch_size: rows of ``D_m`` per step (default: the training batch size).
        meta_seed: the seed of ``D_m``'s order (default: the Trainer's seed + 1).
        groups: boolean masks over ``D_t``; each group's mean weight is logged.
    """

    def __init__(
        self,
        *args: Any,
        sampler: BADSSampler,
        meta_dataset: Any,
        theta: str = "sgld",
        meta_batch_size: int | None = None,
        meta_seed: int | None = None,
        groups: dict[str, np.ndarray] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._check_trainer()
        check_theta(theta)
        meta_dataset = self.prepare_meta_dataset(meta_dataset)
        for name, n, data in (("n_t", sampler.n_t, self.train_dataset),
                              ("n_m", sampler.n_m, meta_dataset)):  # fmt: skip
            if n != len(data):
                raise ConfigError(
                    f"the sampler's {name}={n} but the dataset has {len(data)} rows (after the "
                    "trainer's own preparation, which may drop rows): build the BADSSampler "
                    "with n_t=len(trainer.train_dataset), n_m=len(meta_dataset)"
                )
        if isinstance(sampler.likelihood, Classification):
            check_meta_classes(self.train_dataset, meta_dataset, _num_classes(sampler.model))
        self.sampler, self.theta, self.meta_dataset = sampler, theta, meta_dataset
        self.meta_loader = BigBatchLoader(
            meta_dataset, meta_batch_size or self.args.per_device_train_batch_size,
            seed=self.args.seed + 1 if meta_seed is None else meta_seed,
            collate_fn=self.data_collator,
        )  # fmt: skip
        self.method_log = BADSLog(sampler, groups)
        self._pending: StepPoint | None = None
        self.add_callback(_AdvanceWeights(self))
        batch_tensors(self.get_train_dataloader().batch_at(0))  # before training
        batch_tensors(self.meta_loader.batch_at(0))

    def prepare_meta_dataset(self, meta_dataset: Any) -> Any:
        """``D_m`` in the form the trainer gave ``train_dataset``: as it is for ``Trainer``;
        for TRL's trainers (which prepare their datasets: labels from ``completion_mask``,
        truncation), through the same preparation — TRL's ``_prepare_dataset``, tested with
        TRL 1.16's ``SFTTrainer``. Override it for another trainer that prepares its data."""
        prepare = getattr(self, "_prepare_dataset", None)
        if prepare is None or getattr(self.args, "skip_prepare_dataset", False):
            return meta_dataset
        packing = getattr(self.args, "packing", False)
        if packing:
            raise ConfigError(
                "packing=True joins rows, so a weight w_i no longer belongs to one training "
                "example: set packing=False in the trainer's config"
            )
        return prepare(meta_dataset, self.processing_class, self.args, packing, None, "meta")

    def training_step(self, model, inputs, num_items_in_batch=None) -> torch.Tensor:
        batch_t = batch_tensors(self._prepare_inputs(inputs))
        meta = self.meta_loader.batch_at(self.sampler.num_steps)
        batch_m = batch_tensors(self._prepare_inputs(meta))
        if self.theta == "sgld":
            return self.sampler.step(batch_t, batch_m, check=False)["loss"]
        self._pending = self.sampler.objective(batch_t, batch_m)
        loss = self._pending.loss()
        self.accelerator.backward(loss)
        return loss.detach()

    def advance_weights(self) -> None:
        """After the optimiser step: the weights' move on the step's forward."""
        if self._pending is not None:
            self.sampler.advance(self._pending, check=False)
            self._pending = None

    def method_state_dict(self) -> dict[str, Any]:
        return {"sampler": self.sampler.state_dict()}

    def load_method_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])


def _num_classes(model) -> int | None:
    k = getattr(model, "num_classes", None)
    return k if isinstance(k, int) else None


class OnlineSelectionTrainer(OnlineSelectionMixin, Trainer):
    """``Trainer`` with online batch selection (:class:`OnlineSelectionMixin`)."""


class BADSTrainer(BADSMixin, Trainer):
    """``Trainer`` with BADS (:class:`BADSMixin`)."""
