"""One optimiser step on the (weighted) negative log-likelihood of a batch."""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn

from bayes_dps import distributed as dist
from bayes_dps.errors import NumericalError
from bayes_dps.models.likelihoods import Classification, Likelihood, LogLik, upcast

CLASSIFICATION = Classification()


def weighted_nll(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    weights: torch.Tensor | None = None,
    likelihood: Likelihood | None = None,
    autocast=nullcontext,
    total: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, LogLik]:
    """The loss :func:`sgd_step` steps on, ``−mean_i w_i · log p(z_i | θ)`` (distributed: this
    process's part of the global mean over ``total`` points), with the per-example losses and
    the forward pass's :class:`LogLik` — for loops whose own optimiser takes the step."""
    model.train()
    with autocast():
        out = (likelihood or CLASSIFICATION)(model, x, y)
    losses = -upcast(out.values)
    weighted = losses * weights if weights is not None else losses
    loss = weighted.mean() if total is None or not dist.active() else weighted.sum() / total
    return loss, losses, out


def sgd_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    weights: torch.Tensor | None = None,
    *,
    likelihood: Likelihood | None = None,
    autocast=nullcontext,
    where: str = "",
    check: bool = True,
    total: int | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """One optimiser step on ``−mean_i w_i · log p(z_i | θ)`` (the likelihood's; default the
    classifier's cross-entropy), the forward pass inside ``autocast()``.

    Returns the detached per-example losses, logits and last-layer features from the forward
    pass (taken *before* the update, with the batch's own BatchNorm statistics; ``None`` /
    empty for models without them). With ``check`` a non-finite loss raises
    :class:`NumericalError` naming ``where``, before the parameters change (a host sync; loops
    that avoid per-step syncs pass ``check=False`` and test the returned losses in bulk).
    Distributed, ``(x, y)`` is this process's share of a batch of ``total`` points: the loss is
    its part of the global mean and the gradients are summed over processes before the step.
    ``scaler`` (``16-mixed``): scale the loss, skip steps whose gradients overflow.
    """
    loss, losses, out = weighted_nll(model, x, y, weights, likelihood, autocast, total)
    if check and not torch.isfinite(loss):
        raise NumericalError(
            f"non-finite training loss {loss.item()} {where}; lower optimizer.lr or check the "
            "inputs for NaN/inf"
        )
    optimizer.zero_grad(set_to_none=True)
    (loss if scaler is None else scaler.scale(loss)).backward()
    if dist.active():
        dist.all_reduce_sum_([p.grad for p in model.parameters() if p.grad is not None])
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()
    feats = out.features if out.features is not None else x.new_zeros(len(losses), 0)
    logits = None if out.logits is None else out.logits.detach()
    return losses.detach(), logits, feats.detach()
