"""Classification metrics: accuracy, balanced accuracy (mean per-class recall), and the
predictive quality of a model (negative log-likelihood, expected calibration error)."""

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


def calibration(logits: torch.Tensor, y: torch.Tensor, bins: int = 15) -> dict[str, float]:
    """Negative log-likelihood, accuracy and expected calibration error (``bins`` equal-width
    confidence bins, Guo et al. 2017: ``Σ_b |B_b|/n · |acc(B_b) − conf(B_b)|``) of ``logits``."""
    logp = torch.log_softmax(logits.double(), dim=1)
    conf, pred = logp.exp().max(1)
    hit = (pred == y).double()
    which = (conf * bins).long().clamp_max(bins - 1)
    gap = (torch.bincount(which, hit, bins) - torch.bincount(which, conf, bins)).abs()
    return {
        "nll": -logp.gather(1, y[:, None]).mean().item(),
        "acc": hit.mean().item(),
        "ece": (gap.sum() / max(len(y), 1)).item(),
    }


def reliability(logits: torch.Tensor, y: torch.Tensor, bins: int = 10) -> dict[str, list]:
    """The reliability diagram of ``logits`` (Guo et al. 2017, Fig. 1): per equal-width bin of
    the top-class confidence, the points' ``count``, mean ``confidence`` and ``accuracy``
    (``None`` in empty bins). A calibrated predictor has accuracy ≈ confidence in every bin;
    :func:`calibration`'s ECE is the count-weighted mean gap."""
    conf, pred = torch.softmax(logits.double(), dim=1).max(1)
    hit = (pred == y).double()
    which = (conf * bins).long().clamp_max(bins - 1)
    count = torch.bincount(which, minlength=bins)
    mean = lambda v: [  # noqa: E731
        None if n == 0 else s / n
        for s, n in zip(torch.bincount(which, v, bins).tolist(), count.tolist(), strict=True)
    ]
    return {"count": count.tolist(), "confidence": mean(conf), "accuracy": mean(hit)}


@torch.no_grad()
def predict(
    model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, labels)`` of ``model`` over ``batches``, on the CPU (a module runs in eval
    mode)."""
    logits, labels = [], []
    with eval_mode(model) if isinstance(model, nn.Module) else nullcontext():
        for x, y, _ in batches:
            logits.append(model(x).float().cpu())
            labels.append(y.cpu())
    return torch.cat(logits), torch.cat(labels)


def predictive_quality(
    model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
) -> dict[str, float]:
    """:func:`calibration` of ``model`` over ``batches``."""
    return calibration(*predict(model, batches))
