"""``uniform``: ``b_t`` is ``n_b`` points of ``B_t`` drawn without replacement, uniformly."""

from __future__ import annotations

import torch

from bayes_dps.selection.base import BigBatch, Selection, SelectionRule


class UniformSelection(SelectionRule):
    """Uniform sampling, the reference every rule is compared with (no forward pass needed)."""

    name = "uniform"
    needs_forward = False

    def __init__(self, seed: int = 0) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def select(self, batch: BigBatch, n_b: int) -> Selection:
        perm = torch.randperm(len(batch), generator=self.generator)[:n_b]
        return Selection(positions=perm.to(batch.y.device))

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
