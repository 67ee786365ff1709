"""Classification metrics: accuracy and balanced accuracy (mean per-class recall)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import nullcontext

import torch
from torch import nn

from bayes_dps.models.modes import eval_mode


@torch.no_grad()
def evaluate(
    model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    k: int,
) -> dict[str, float]:
    """Accuracy and balanced accuracy (mean per-class recall) of ``model`` (a module, run in
    eval mode, or any function from inputs to logits)."""
    correct = torch.zeros(k, dtype=torch.long)
    total = torch.zeros(k, dtype=torch.long)
    with eval_mode(model) if isinstance(model, nn.Module) else nullcontext():
        for x, y, _ in batches:
            hit = (model(x).argmax(1) == y).long().cpu()
            y = y.cpu()
            total += torch.bincount(y, minlength=k)
            correct += torch.bincount(y, weights=hit, minlength=k).long()
    seen = total > 0
    acc = correct.sum().item() / max(total.sum().item(), 1)
    balanced = (correct[seen].double() / total[seen].double()).mean().item() if seen.any() else 0.0
    return {"acc": acc, "balanced_acc": balanced}
