"""The ``contrastive`` baseline: contrastive data selection (CDS; Wang et al. 2018, the CDS
baseline of Xu et al. 2024; Moore–Lewis cross-entropy difference).

1. a base model ``θ_base`` is trained on the uncurated ``D_t`` (``base_steps`` steps);
2. a copy is fine-tuned on the curated ``D_m`` (``finetune_steps`` steps) → ``θ_ft``;
3. every ``(x_i, y_i) ∈ D_t`` is scored by the log-likelihood gain of fine-tuning,

       s_i = log p(y_i | x_i, θ_ft) − log p(y_i | x_i, θ_base),

   high when the curated data made the point *more* likely (it looks like ``D_m``);
4. the top ``select_fraction`` of ``D_t`` by ``s_i`` (``inference.weight_trace.top_fraction``),
   together with ``D_m``, is the training set of a fresh network (trained like the other data
   baselines).

The scoring models' steps are extra cost on top of the final run's ``steps``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bayes_dps.data.batches import BatchStream
from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.models.likelihoods import Classification, Likelihood
from bayes_dps.models.modes import eval_mode
from bayes_dps.training.optim import build_optimizer
from bayes_dps.training.step import sgd_step


def fit_steps(
    model: nn.Module, data, steps: int, opt_cfg, batch_size, seed, device, likelihood=None
) -> nn.Module:
    """``model`` after ``steps`` minibatch steps on ``data`` with the optimiser ``opt_cfg`` (the
    scoring models of ``contrastive`` and ``classact``)."""
    optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], opt_cfg)
    stream = BatchStream(data, min(batch_size, len(data)), seed=seed, device=device)
    batches = stream.cycle()
    for s in range(steps):
        x, y, _ = next(batches)
        sgd_step(
            model, optimizer, x, y, likelihood=likelihood,
            where=f"in scoring-model step {s + 1}",
        )  # fmt: skip
    return model


@torch.no_grad()
def log_likelihoods(
    model: nn.Module, data, device, batch_size: int = 512, likelihood: Likelihood | None = None
) -> torch.Tensor:
    """``log p(z_i | θ)`` for every point of ``data`` (evaluation mode and transform)."""
    lik = likelihood or Classification()
    out = torch.empty(len(data))
    with eval_mode(model):
        for x, y, idx in BatchStream.sequential(data.for_eval(), batch_size, device=device):
            out[idx.cpu()] = lik(model, x, y).values.float().cpu()
    return out


def contrastive_scores(
    make_model: Callable[[], nn.Module],
    train: IndexedDataset,
    meta: IndexedDataset,
    cfg: dict[str, Any],
    *,
    seed: int,
    device: torch.device | str = "cpu",
    likelihood: Likelihood | None = None,
) -> torch.Tensor:
    """``s_i`` for every point of ``train`` (step 1–3 above). ``cfg`` is the run config; its
    ``contrastive`` block sets ``base_steps``, ``finetune_steps`` and ``finetune_lr``."""
    c = cfg["contrastive"]
    limit = cfg.get("step_limit") or float("inf")  # smoke tests cap every training loop
    base_steps, finetune_steps = (
        int(min(c["base_steps"], limit)),
        int(min(c["finetune_steps"], limit)),
    )
    base = fit_steps(
        make_model(), train, base_steps, cfg["optimizer"], cfg["batch_size"], seed, device,
        likelihood,
    )  # fmt: skip
    finetune_opt = {**cfg["optimizer"], "lr": c["finetune_lr"] or cfg["optimizer"]["lr"]}
    tuned = fit_steps(
        copy.deepcopy(base),
        meta,
        finetune_steps,
        finetune_opt,
        cfg["meta_batch_size"],
        seed + 1,
        device,
        likelihood,
    )
    return log_likelihoods(tuned, train, device, likelihood=likelihood) - log_likelihoods(
        base, train, device, likelihood=likelihood
    )
