"""Train a classifier on a dataset with plain minibatch AdamW: the holdout ("irreducible
loss") model of RHO-LOSS and online Bayesian selection, SVP's proxy."""

from __future__ import annotations

from typing import Any

import torch

from bayes_dps.data.batches import BatchStream
from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.models.base import FeatureHeadModel
from bayes_dps.models.registry import build_model
from bayes_dps.training.epoch import MinibatchEpoch
from bayes_dps.training.optim import build_optimizer
from bayes_dps.training.seeding import seed_everything
from bayes_dps.training.trainer import Trainer


def epochs_within(epochs: int, steps_per_epoch: int, step_limit: int | None) -> int:
    """Epochs to run so that at most ``step_limit`` steps are taken (all, without a limit)."""
    if step_limit is None:
        return epochs
    return max(1, min(epochs, -(-step_limit // max(steps_per_epoch, 1))))


def fit_classifier(
    data: IndexedDataset,
    spec: dict[str, Any],
    *,
    model_name: str,
    model_options: dict[str, Any],
    device: torch.device | str = "cpu",
    num_workers: int = 0,
    step_limit: int | None = None,
) -> FeatureHeadModel:
    """A network ``model_name`` trained on ``data``; ``spec``: ``epochs`` and optionally
    ``lr`` (1e-3), ``weight_decay`` (0.01), ``batch_size`` (32), ``seed`` (0). ``step_limit``
    caps its optimiser steps (smoke tests). Returned in evaluation mode."""
    seed_everything(int(spec.get("seed", 0)))
    model = build_model(model_name, tuple(data[0][0].shape), data.num_classes, model_options)
    model = model.to(device)
    opt = build_optimizer(
        model.parameters(),
        {
            "name": "adamw",
            "lr": spec.get("lr", 1e-3),
            "weight_decay": spec.get("weight_decay", 0.01),
        },
    )
    stream = BatchStream(
        data,
        min(int(spec.get("batch_size", 32)), len(data)),
        seed=int(spec.get("seed", 0)),
        drop_last=False,
        device=device,
        num_workers=num_workers,
    )
    Trainer(
        model,
        opt,
        MinibatchEpoch(model, opt, stream, step_limit=step_limit),
        evaluate=dict,
        epochs=epochs_within(int(spec["epochs"]), len(stream), step_limit),
    ).fit()
    return model.eval()
