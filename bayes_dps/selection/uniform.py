"""``uniform``: ``b_t`` is ``n_b`` points of ``B_t`` drawn without replacement, uniformly."""

from __future__ import annotations

import torch

from bayes_dps.selection.base import BigBatch, Selection, SelectionRule
from bayes_dps.selection.rng import DeviceGenerator


class UniformSelection(SelectionRule):
    """Uniform sampling, the reference every rule is compared with (no forward pass needed)."""

    name = "uniform"
    needs_forward = False

    def __init__(self, seed: int = 0) -> None:
        self.rng = DeviceGenerator(seed)

    def select(self, batch: BigBatch, n_b: int) -> Selection:
        device = batch.y.device
        return Selection(
            positions=torch.randperm(len(batch), generator=self.rng.on(device), device=device)[:n_b]
        )

    def state_dict(self) -> dict:
        return {"rng": self.rng.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.load_state_dict(state["rng"])
