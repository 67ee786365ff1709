"""Rules that rank ``B_t`` by a per-point score and keep the top ``n_b``."""

from __future__ import annotations

import torch

from bayes_dps.errors import NumericalError
from bayes_dps.selection.base import BigBatch, Selection, SelectionRule


class ScoredSelection(SelectionRule):
    """Subclasses implement :meth:`scores` (higher = more worth training on). With
    ``check_finite`` (the default) NaN/inf scores raise at once — a host sync per step; loops
    that avoid those turn it off and catch the non-finite loss that follows instead."""

    needs_forward = True
    check_finite = True

    def scores(self, batch: BigBatch) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def select(self, batch: BigBatch, n_b: int) -> Selection:
        s = self.scores(batch)
        if self.check_finite and not torch.isfinite(s).all():
            raise NumericalError(
                f"selection rule {self.name!r} produced NaN/inf scores "
                f"({int((~torch.isfinite(s)).sum())} of {len(s)}); the model's or the "
                "predictor's logits are not finite — lower the learning rate or check inputs"
            )
        return Selection(positions=torch.topk(s, n_b).indices, scores=s)


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-point ``−log softmax(logits)[y]``."""
    return torch.nn.functional.cross_entropy(logits.float(), y, reduction="none")


def require_logits(batch: BigBatch, rule: str) -> torch.Tensor:
    if batch.logits is None:
        raise ValueError(f"rule {rule!r} needs the model's logits on B_t (batch.logits is None)")
    return batch.logits
