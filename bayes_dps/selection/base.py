"""The interface every online selection rule implements.

At step ``t`` a big batch ``B_t`` of ``n_B`` points arrives; a rule returns which ``n_b`` of
them form ``b_t`` (positions into the batch) and, for importance-sampling rules, the weights
of the selected points' losses. Rules that score points get the model's logits and
last-layer features on ``B_t`` (computed once by the trainer, only when ``needs_forward``).
After the optimiser step the trainer calls :meth:`SelectionRule.update` with the selected
batch, which is where a posterior (Deng et al. Eq. 14) is refreshed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class BigBatch:
    """``B_t``: inputs, observed labels, dataset indices; logits and features when computed."""

    x: torch.Tensor
    y: torch.Tensor
    idx: torch.Tensor
    logits: torch.Tensor | None = None
    features: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Selection:
    """Positions of ``b_t`` in ``B_t``; ``weights`` multiply their losses (``None`` = 1)."""

    positions: torch.Tensor
    weights: torch.Tensor | None = None
    scores: torch.Tensor | None = None


class SelectionRule:
    """Base class. Subclasses set ``name`` / ``needs_forward`` and implement :meth:`select`."""

    name: str = ""
    needs_forward: bool = False

    def select(self, batch: BigBatch, n_b: int) -> Selection:  # pragma: no cover - abstract
        raise NotImplementedError

    def update(self, batch: BigBatch, selection: Selection) -> None:
        """Called after the optimiser step on ``b_t``; stateless rules do nothing."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
