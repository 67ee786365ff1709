"""Online batch selection (Deng et al. 2023, Algorithm 1; RHO-LOSS protocol).

An epoch is ``⌊n / n_B⌋`` steps. Each step draws a big batch ``B_t`` of ``n_B`` points, asks the
selection rule for ``n_b`` of them, and takes one optimiser step on those only — so every rule
takes the same number of gradient steps per epoch and differs only in *which* points it uses.
Per epoch the step records how many selected points carry a corrupted label (paper Fig. 1a)
and how many the model already classified correctly before the step ("redundant", Fig. 1b).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
from torch import nn

from bayes_dps import distributed as dist
from bayes_dps.data.batches import BatchStream
from bayes_dps.methods.online.predictor_check import PredictorCheck
from bayes_dps.nonfinite import FirstNonFinite
from bayes_dps.selection.base import BigBatch, SelectionRule
from bayes_dps.selection.selector import OnlineSelector
from bayes_dps.training.profile import PhaseTimer
from bayes_dps.training.progress import StepHook
from bayes_dps.training.step import sgd_step


class OnlineSelectionEpoch(StepHook):
    """One epoch of select-then-train steps (an :class:`~bayes_dps.training.trainer.EpochStep`).

    Args:
        model: a network with ``forward_with_features`` (features + linear head).
        optimizer: its optimiser.
        stream: big batches ``B_t`` of ``n_B`` training points.
        rule: the selection rule.
        n_b: points selected per step.
        noisy: per training index, whether its label is corrupted (for the statistics).
        max_steps: stop an epoch after this many steps (smoke tests; ``None``: full epochs).
        step_limit: stop after this many steps in all, counted across epochs (smoke tests).
        autocast: the forward passes' autocast context (mixed precision).
        scaler: a gradient scaler (``16-mixed``).
        profile: time each phase of a step (a device synchronisation per phase).
        check: the predictor check run at every epoch's end (``predictor_check``); once it
            has fired with a fallback rule, the steps select with that rule.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        stream: BatchStream,
        rule: SelectionRule,
        n_b: int,
        noisy: np.ndarray | None = None,
        max_steps: int | None = None,
        step_limit: int | None = None,
        autocast=nullcontext,
        scaler: torch.amp.GradScaler | None = None,
        profile: bool = False,
        check: PredictorCheck | None = None,
    ) -> None:
        self.model, self.optimizer, self.stream, self.rule, self.n_b = (
            model,
            optimizer,
            stream,
            rule,
            n_b,
        )
        n = len(stream.dataset)
        mask = np.zeros(n, dtype=bool) if noisy is None else np.asarray(noisy, dtype=bool)
        self.noisy = torch.as_tensor(mask, device=stream.device)
        self.max_steps = len(stream) if max_steps is None else min(max_steps, len(stream))
        self.step_limit = step_limit
        self.steps_per_epoch = self.max_steps
        self.autocast, self.scaler = autocast, scaler
        self.timer = PhaseTimer(stream.device, profile)
        self.selector = OnlineSelector(
            model, rule, check_inputs=False, autocast=autocast, timer=self.timer
        )
        self.check = check

    def step(
        self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, where: str = ""
    ) -> tuple[BigBatch, torch.Tensor]:
        """One selection step on ``B_t = (x, y, idx)``: score, select ``b_t``, train on it,
        update the rule. Returns ``b_t`` (with pre-step logits and features) and its losses.

        Distributed, every process holds the same ``B_t``; the scoring forward is split over
        the processes and its logits and features gathered (see :class:`OnlineSelector`), so
        every process selects the same ``b_t``; each trains on its equal share of ``b_t`` with
        the gradient of the global mean loss (gradients summed), and the shares' logits and
        features are gathered again for the posterior update."""
        sel = self.selector.select(x, y, idx, self.n_b)
        pos = sel.positions
        mine = pos[dist.shard(len(pos))] if dist.active() else pos
        weights = sel.weights
        if weights is not None and dist.active():
            weights = weights[dist.shard(len(pos))]
        with self.timer("training_step"):
            losses, logits, feats = sgd_step(
                self.model, self.optimizer, x[mine], y[mine], weights, where=where,
                autocast=self.autocast, check=False, total=len(pos), scaler=self.scaler,
            )  # fmt: skip
            if dist.active():
                losses, logits, feats = (dist.all_gather_cat(t) for t in (losses, logits, feats))
        with self.timer("posterior_update"):
            self.selector.update(x, y, idx, sel, logits=logits, features=feats)
        return BigBatch(x[pos], y[pos], idx[pos], logits, feats), losses

    def run_epoch(self, epoch: int) -> dict[str, float]:
        """The epoch's steps; its statistics are summed on the device and read once, at the
        end (no host synchronisation per step)."""
        device = self.stream.device
        noisy = torch.zeros((), dtype=torch.long, device=device)
        redundant = torch.zeros((), dtype=torch.long, device=device)
        loss_sum = torch.zeros((), device=device)
        nonfinite = FirstNonFinite(device)
        selected = steps = 0
        for step, (x, y, idx) in enumerate(self.stream.epoch(epoch)):
            if step >= self.max_steps or (
                self.step_limit is not None and epoch * self.max_steps + step >= self.step_limit
            ):
                break
            chosen, losses = self.step(x, y, idx)
            self.on_step()
            steps += 1
            selected += len(chosen)
            noisy += self.noisy[chosen.idx].sum()
            redundant += (chosen.logits.argmax(1) == chosen.y).sum()
            total = losses.sum()
            nonfinite.observe(total, step)
            loss_sum += total
        nonfinite.raise_if_any(
            f"non-finite training loss at epoch {epoch + 1}, step {{step}}; lower optimizer.lr "
            "or check the inputs for NaN/inf"
        )
        out = {
            "steps": steps,
            "selected": selected,
            "selected_noisy": int(noisy),
            "selected_redundant": int(redundant),
            "train_loss": float(loss_sum) / max(selected, 1),
        }
        if self.timer.enabled:
            out["profile"] = self.timer.take()
        stats = getattr(self.selector.rule, "epoch_stats", None)
        if stats is not None and (terms := stats()):
            out["score_terms"] = terms
        if self.check is not None:
            out["predictor_check"] = self.check.after_epoch(self.model, epoch)
            self._use_fallback()
        return out

    def _use_fallback(self) -> None:
        if self.check is not None and self.check.switched:
            self.selector.rule = self.check.fallback

    def score_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and features on ``B_t`` as the rules see them (see :class:`OnlineSelector`)."""
        return self.selector.scoring_forward(x)

    def state_dict(self) -> dict[str, Any]:
        state = {"rule": self.rule.state_dict()}
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        if self.check is not None:
            state["check"] = self.check.state_dict()
            if self.check.fallback is not None:
                state["fallback"] = self.check.fallback.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rule.load_state_dict(state["rule"])
        if self.scaler is not None:
            self.scaler.load_state_dict(state["scaler"])
        if self.check is not None:
            self.check.load_state_dict(state["check"])
            if self.check.fallback is not None:
                self.check.fallback.load_state_dict(state["fallback"])
            self._use_fallback()
