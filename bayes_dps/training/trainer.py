"""The trainer core shared by every method: epochs, evaluation, timing, checkpoints, resume.

What happens inside an epoch is delegated to an *epoch step* (:class:`EpochStep`): plain
minibatch SGD (``training.epoch.MinibatchEpoch``), online batch selection, BADS sampling…
The trainer owns everything around it: per-epoch evaluation, wall-clock timing of the
training part, progress over the training steps (:mod:`bayes_dps.training.progress`), an
atomic checkpoint after every epoch (model, optimiser,
epoch-step state such as posterior factors, and every global RNG state) and ``resume``, which
continues a killed run to bit-for-bit the same result on the same device.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from bayes_dps import distributed as dist
from bayes_dps.errors import ConfigError
from bayes_dps.training.checkpoint import load_checkpoint, save_checkpoint
from bayes_dps.training.devices import synchronize
from bayes_dps.training.progress import StepProgress, no_step
from bayes_dps.training.seeding import rng_states, set_rng_states


class EpochStep(Protocol):
    """One epoch of training; returns statistics to record (summed or averaged as it likes)."""

    def run_epoch(self, epoch: int) -> dict[str, float]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Trainer:
    """Runs ``epochs`` epochs of ``epoch_step`` with evaluation and checkpoints.

    Args:
        model, optimizer: what is trained (the epoch step holds the same objects).
        epoch_step: the epoch's work (see :class:`EpochStep`).
        evaluate: called after every epoch; returns metrics such as ``{"acc": 0.93}``.
        epochs: number of epochs.
        device: for timing synchronisation.
        checkpoint_path: where the per-epoch checkpoint goes (``None``: no checkpoints).
        progress: show the progress over training steps (a bar in a terminal, a line a minute
            in a log; see :mod:`~bayes_dps.training.progress`).
        desc: the progress's label.
        on_epoch_end: ``f(history)`` after each epoch's checkpoint, with every record so far
            (logging).
        fingerprint: the config's fingerprint, stored in checkpoints; resuming from a
            checkpoint with another fingerprint is refused.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        epoch_step: EpochStep,
        *,
        evaluate: Callable[[], dict[str, float]],
        epochs: int,
        device: torch.device | str = "cpu",
        checkpoint_path: str | Path | None = None,
        progress: bool = False,
        desc: str = "",
        on_epoch_end: Callable[[list[dict[str, Any]]], None] | None = None,
        fingerprint: str | None = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.epoch_step = epoch_step
        self.evaluate = evaluate
        self.epochs = epochs
        self.device = torch.device(device)
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.progress = progress
        self.desc = desc
        self.on_epoch_end = on_epoch_end
        self.fingerprint = fingerprint
        self.history: list[dict[str, Any]] = []

    def _model_state(self) -> dict[str, torch.Tensor]:
        """The model's state; with a frozen base (LoRA adapters) only what trains and the
        buffers — the base is reloaded from its source, not rewritten every epoch."""
        state = self.model.state_dict()
        frozen = {n for n, p in self.model.named_parameters() if not p.requires_grad}
        return {k: v for k, v in state.items() if k not in frozen}

    def _state(self, epoch: int) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "history": self.history,
            "model": self._model_state(),
            "optimizer": self.optimizer.state_dict(),
            "epoch_step": self.epoch_step.state_dict(),
            "rng": rng_states(),
            "fingerprint": self.fingerprint,
        }

    def _restore(self) -> int:
        path = self.checkpoint_path
        # rank 0 reads (its error, if any, stops every process); every rank gets the state
        state = dist.on_main(load_checkpoint, path) if path else None
        if state is None:
            return 0
        if state.get("fingerprint") != self.fingerprint:
            raise ConfigError(
                f"checkpoint {self.checkpoint_path} was written by a run with another config "
                f"(fingerprint {state.get('fingerprint')}, this run {self.fingerprint}); "
                "resume with the same settings or delete it"
            )
        frozen = any(not p.requires_grad for p in self.model.parameters())
        _, unexpected = self.model.load_state_dict(state["model"], strict=not frozen)
        if unexpected:
            raise ConfigError(
                f"checkpoint {self.checkpoint_path} holds unknown tensors {unexpected[:3]}"
            )
        self.optimizer.load_state_dict(state["optimizer"])
        try:
            self.epoch_step.load_state_dict(state["epoch_step"])
        except ConfigError as err:
            raise ConfigError(f"checkpoint {self.checkpoint_path}: {err}") from err
        set_rng_states(state["rng"])
        self.history = list(state["history"])
        return int(state["epoch"])

    def _fit_epoch(self, epoch: int) -> None:
        synchronize(self.device)
        t0 = time.perf_counter()
        stats = self.epoch_step.run_epoch(epoch)
        synchronize(self.device)
        seconds = time.perf_counter() - t0
        record = {"epoch": epoch + 1, "seconds": seconds, **stats, "test": self.evaluate()}
        self.history.append(record)
        if self.checkpoint_path is not None:
            state = self._state(epoch + 1)  # every rank takes part (random states)
            if dist.is_main():
                save_checkpoint(self.checkpoint_path, state)
        if self.on_epoch_end is not None and dist.is_main():
            self.on_epoch_end(self.history)

    def fit(self, resume: bool = False) -> list[dict[str, Any]]:
        """Train (continuing from the checkpoint when ``resume``); returns per-epoch records."""
        start = self._restore() if resume else 0
        if not resume:
            self.history = []
        per_epoch = getattr(self.epoch_step, "steps_per_epoch", None)
        hooked = per_epoch is not None and hasattr(self.epoch_step, "on_step")
        progress = StepProgress(
            self.epochs * per_epoch if hooked else self.epochs,
            done=start * per_epoch if hooked else start,
            desc=self.desc,
            unit="step" if hooked else "epoch",
            enabled=self.progress and dist.is_main(),
        )
        if hooked:
            self.epoch_step.on_step = progress.advance
        try:
            for epoch in range(start, self.epochs):
                self._fit_epoch(epoch)
                if not hooked:
                    progress.advance()
                progress.set_metrics(self.history[-1]["test"])
        finally:
            if hooked:
                self.epoch_step.on_step = no_step
            progress.close()
        return self.history
