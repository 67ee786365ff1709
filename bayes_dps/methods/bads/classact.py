"""The ``classact`` baseline: a classifier of curated against uncurated examples, its
probability of "curated" as each training point's loss weight (the ClassAct baseline of Xu et
al. 2024; the quality-classifier filtering of GPT-3 and of DSIR-style selection).

1. the **base**: the network as the task builds it (for a language task the pretrained model as
   loaded), trained for ``classact.base_steps`` steps on ``D_t`` when that is above 0 (a model
   trained from scratch has no useful features before), then frozen;
2. its features ``φ(x)`` of every point of ``D_t`` and ``D_m``: the last-layer features of a
   classifier, the mean-pooled states of a language model;
3. a logistic regression ``c(φ) = σ(aᵀφ̂ + b)`` on standardised features ``φ̂``, fitted by
   L-BFGS to tell ``D_m`` (label 1) from ``D_t`` (label 0), each set weighted by the inverse of
   its size (``|D_m| ≪ |D_t|``; equal class priors) with an L2 penalty ``classact.l2 ·‖a‖²``:

       min_{a,b}  −(1/|D_m|) Σ_{D_m} log c(φ_j) − (1/|D_t|) Σ_{D_t} log(1 − c(φ_i)) + λ‖a‖²;

4. ``w_i = c(φ(x_i))`` for every ``i ∈ D_t``: the posterior probability that ``x_i`` came from
   the curated distribution when both are a priori equally likely — 0.5 where ``D_t`` cannot be
   told from ``D_m``, near 0 where it looks like no curated example. Where the classifier
   separates the two sets (a few curated examples in many dimensions) every ``w_i`` is near 0
   and the run learns from ``D_m`` alone; ``classact.scale = mean_one`` divides the weights by
   their mean over ``D_t`` — the same ranking, ``D_t``'s loss at mixing's scale — which tells
   the weights' scale from their ranking in an ablation;
5. a fresh network trained on ``D_t ∪ D_m`` with the loss of each ``D_t`` point weighted by
   ``w_i`` (``D_m``'s by 1), with the config's optimiser and steps (as ``mixing``).

The classifier sees inputs only, not labels (as the method's quality classifiers do): it reads
which *inputs* look curated — off-domain text, over-represented classes — and cannot see a
wrong label on an in-domain input. The base's steps and the classifier's fit are extra cost on
top of the final run's ``steps``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bayes_dps.data.batches import BatchStream
from bayes_dps.errors import ConfigError
from bayes_dps.methods.bads.contrastive import fit_steps
from bayes_dps.models.modes import eval_mode


@torch.no_grad()
def base_features(model: nn.Module, data, device, batch_size: int = 512) -> torch.Tensor:
    """``φ(x)`` (step 2) of every point of ``data``, in order, from a classifier's
    ``forward_with_features`` (evaluation mode and transform)."""
    if not hasattr(model, "forward_with_features"):
        raise ConfigError(
            f"classact needs a model with last-layer features; {type(model).__name__} has no "
            "forward_with_features (use a bundled model, or drop classact from methods)"
        )
    out: torch.Tensor | None = None
    with eval_mode(model):
        for x, _, idx in BatchStream.sequential(data.for_eval(), batch_size, device=device):
            _, h = model.forward_with_features(x)
            if out is None:
                out = torch.empty(len(data), h.shape[1])
            out[idx.cpu()] = h.float().cpu()
    assert out is not None
    return out


def curated_probability(
    curated: torch.Tensor, uncurated: torch.Tensor, l2: float = 1e-3, max_iter: int = 200
) -> torch.Tensor:
    """``c(φ_i)`` (steps 3–4) for every row of ``uncurated``: the class-balanced, L2-penalised
    logistic regression of ``curated`` (label 1) against ``uncurated`` (label 0), in float64."""
    both = torch.cat([curated, uncurated]).double()
    mean, std = both.mean(0), both.std(0).clamp_min(1e-8)
    z_m, z_t = (curated.double() - mean) / std, (uncurated.double() - mean) / std
    a = torch.zeros(both.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([a, b], max_iter=max_iter, line_search_fn="strong_wolfe")
    softplus = nn.functional.softplus

    def objective() -> torch.Tensor:
        opt.zero_grad()
        # −log σ(u) = softplus(−u), −log(1 − σ(u)) = softplus(u)
        loss = (
            softplus(-(z_m @ a + b)).mean() + softplus(z_t @ a + b).mean() + l2 * a.square().sum()
        )
        loss.backward()
        return loss

    opt.step(objective)
    with torch.no_grad():
        return torch.sigmoid(z_t @ a + b).float()


def classact_weights(
    make_model: Callable[[], nn.Module],
    train,
    meta,
    cfg: dict[str, Any],
    *,
    seed: int,
    device: torch.device | str = "cpu",
    features: Callable[[nn.Module, Any], torch.Tensor] | None = None,
    likelihood=None,
) -> torch.Tensor:
    """``w_i`` (steps 1–4) for every point of ``train``. ``features(model, data)`` gives
    ``φ`` (default :func:`base_features`); ``cfg`` is the run config, whose ``classact`` block
    sets ``base_steps``, ``l2``, ``max_iter`` and ``scale``."""
    c = cfg["classact"]
    steps = int(min(c["base_steps"], cfg.get("step_limit") or float("inf")))
    base = make_model()
    if steps > 0:
        base = fit_steps(
            base, train, steps, cfg["optimizer"], cfg["batch_size"], seed, device, likelihood
        )
    phi = features or (lambda model, data: base_features(model, data, device))
    w = curated_probability(phi(base, meta), phi(base, train), c["l2"], c["max_iter"])
    return w / w.mean() if c["scale"] == "mean_one" else w
