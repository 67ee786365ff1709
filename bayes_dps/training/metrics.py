"""Evaluation and the Table-1 metrics (epochs to target, mean ± std over seeds)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn


@torch.no_grad()
def evaluate(
    model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    k: int,
) -> dict[str, float]:
    """Accuracy and balanced accuracy (mean per-class recall) of ``model`` (a module, run in
    eval mode, or any function from inputs to logits)."""
    is_module = isinstance(model, nn.Module)
    was_training = is_module and model.training
    if is_module:
        model.eval()
    correct = torch.zeros(k, dtype=torch.long)
    total = torch.zeros(k, dtype=torch.long)
    for x, y, _ in batches:
        hit = (model(x).argmax(1) == y).long().cpu()
        y = y.cpu()
        total += torch.bincount(y, minlength=k)
        correct += torch.bincount(y, weights=hit, minlength=k).long()
    if is_module:
        model.train(was_training)
    seen = total > 0
    acc = correct.sum().item() / max(total.sum().item(), 1)
    balanced = (correct[seen].double() / total[seen].double()).mean().item() if seen.any() else 0.0
    return {"acc": acc, "balanced_acc": balanced}


def epochs_to_target(curve: Sequence[float], targets: Sequence[float]) -> dict[str, int | None]:
    """First epoch (1-based) whose test accuracy reaches each target; ``None`` if never."""
    out: dict[str, int | None] = {}
    for t in targets:
        hit = next((i + 1 for i, a in enumerate(curve) if a >= t - 1e-12), None)
        out[f"{t:.2f}"] = hit
    return out


def seconds_to_target(
    curve: Sequence[float], seconds: Sequence[float], targets: Sequence[float]
) -> dict[str, float | None]:
    """Training wall-clock (summed over epochs, evaluation excluded) until the test accuracy
    first reaches each target; ``None`` if never."""
    epochs = epochs_to_target(curve, targets)
    elapsed = np.cumsum(np.asarray(seconds, dtype=float))
    return {t: (None if e is None else float(elapsed[e - 1])) for t, e in epochs.items()}


def mean_std(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Mean and (population) standard deviation of the non-missing values, with their count."""
    vals = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "n": len(vals)}
