"""Online batch selection (Deng et al. 2023, Algorithm 1; RHO-LOSS protocol).

An epoch is ``⌊n / n_B⌋`` steps. Each step draws a big batch ``B_t`` of ``n_B`` points, asks the
selection rule for ``n_b`` of them, and takes one optimiser step on those only — so every rule
takes the same number of gradient steps per epoch and differs only in *which* points it uses.
Per epoch the step records how many selected points carry a corrupted label (paper Fig. 1a)
and how many the model already classified correctly before the step ("redundant", Fig. 1b).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from bayes_dps.data.batches import BatchStream
from bayes_dps.selection.base import BigBatch, SelectionRule
from bayes_dps.training.selector import OnlineSelector
from bayes_dps.training.trainer import sgd_step


class OnlineSelectionEpoch:
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
        self.selector = OnlineSelector(model, rule, check_inputs=False)

    def step(
        self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, where: str = ""
    ) -> tuple[BigBatch, torch.Tensor]:
        """One selection step on ``B_t = (x, y, idx)``: score, select ``b_t``, train on it,
        update the rule. Returns ``b_t`` (with pre-step logits and features) and its losses."""
        sel = self.selector.select(x, y, idx, self.n_b)
        pos = sel.positions
        xb, yb, ib = x[pos], y[pos], idx[pos]
        losses, logits, feats = sgd_step(
            self.model, self.optimizer, xb, yb, sel.weights, where=where
        )
        self.selector.update(x, y, idx, sel, logits=logits, features=feats)
        return BigBatch(xb, yb, ib, logits, feats), losses

    def run_epoch(self, epoch: int) -> dict[str, float]:
        selected = noisy = redundant = steps = 0
        loss_sum = 0.0
        for step, (x, y, idx) in enumerate(self.stream.epoch(epoch)):
            if step >= self.max_steps or (
                self.step_limit is not None and epoch * self.max_steps + step >= self.step_limit
            ):
                break
            chosen, losses = self.step(x, y, idx, where=f"at epoch {epoch + 1}, step {step + 1}")
            steps += 1
            selected += len(chosen)
            noisy += int(self.noisy[chosen.idx].sum())
            redundant += int((chosen.logits.argmax(1) == chosen.y).sum())
            loss_sum += float(losses.sum())
        return {
            "steps": steps,
            "selected": selected,
            "selected_noisy": noisy,
            "selected_redundant": redundant,
            "train_loss": loss_sum / max(selected, 1),
        }

    def score_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and features on ``B_t`` as the rules see them (see :class:`OnlineSelector`)."""
        return self.selector.scoring_forward(x)

    def state_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rule.load_state_dict(state["rule"])
