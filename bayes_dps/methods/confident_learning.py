"""Confident learning (Northcutt, Jiang, Chuang 2021; the ``cleanlab`` package): find the
training labels that a model of the same family, cross-validated, does not believe, and drop
them — the practitioner's first answer to label noise.

1. split ``D_t`` into ``K`` stratified folds; for each fold train a fresh network on the other
   ``K − 1`` and predict the held-out fold, giving out-of-fold probabilities ``p̂(y | x_i)``
   for every point (no point is judged by a model that saw its label);
2. ``cleanlab.filter.find_label_issues(labels, p̂, filter_by=...)``: estimate the joint of
   given and true labels from the per-class thresholds ``t_j = mean p̂(j | x) over points
   labelled j`` (the confident joint) and flag as many points as that joint says are
   mislabelled (``prune_by_noise_rate``: those with the largest margin against their label);
3. keep the rest and train on it as usual.

The ``K`` fold models are the method's own set-up cost (timed by the callers, reported as
``setup_seconds``). Uses the ``cleanlab`` package (a dependency of bayes-dps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from bayes_dps.data.batches import BatchStream
from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.errors import ConfigError, DataError
from bayes_dps.models.modes import eval_mode

FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning")


def _cleanlab_filter():
    try:
        from cleanlab.filter import find_label_issues
    except ImportError as err:
        raise ConfigError(
            "the cleanlab baseline needs the cleanlab package, a dependency of bayes-dps that "
            "is missing here: pip install cleanlab (or drop cleanlab from methods)"
        ) from err
    return find_label_issues


def stratified_folds(targets: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold number in ``0..folds-1`` for every point, each class dealt round-robin over the
    folds in a seeded random order (every fold sees every class it can)."""
    if folds < 2:
        raise ConfigError(f"cleanlab.folds must be >= 2, got {folds}")
    if folds > len(targets):
        raise DataError(f"{folds} folds need at least {folds} training points, got {len(targets)}")
    rng = np.random.default_rng(seed)
    fold = np.empty(len(targets), dtype=np.int64)
    offset = 0
    for c in np.unique(targets):
        idx = rng.permutation(np.flatnonzero(targets == c))
        fold[idx] = (np.arange(len(idx)) + offset) % folds
        offset += len(idx)  # the next class starts where this one stopped
    return fold


@torch.no_grad()
def predict_proba(model: nn.Module, data: IndexedDataset, device, batch_size: int = 512):
    """``softmax(f(x))`` of every point of ``data``, in order (evaluation mode and transform)."""
    out = torch.empty(len(data), data.num_classes)
    with eval_mode(model):
        for x, _, idx in BatchStream.sequential(data.for_eval(), batch_size, device=device):
            out[idx.cpu()] = torch.softmax(model(x).float(), dim=-1).cpu()
    return out.numpy()


def out_of_fold_probabilities(
    data: IndexedDataset,
    fit: Callable[[IndexedDataset, int], nn.Module],
    *,
    folds: int = 5,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """``(N, K)`` out-of-fold ``p̂(y | x_i)`` (step 1); ``fit(train_part, fold)`` returns a
    network trained on ``train_part``."""
    fold = stratified_folds(data.targets, folds, seed)
    probs = np.zeros((len(data), data.num_classes))
    for f in range(folds):
        held = np.flatnonzero(fold == f)
        model = fit(data.subset(np.flatnonzero(fold != f)), f)
        probs[held] = predict_proba(model, data.subset(held), device)
    return probs


@dataclass
class LabelIssues:
    """What confident learning found: ``issues`` (a mask over ``D_t``), ``keep`` (the indices
    trained on), the out-of-fold ``probabilities``."""

    issues: np.ndarray
    keep: np.ndarray
    probabilities: np.ndarray


def find_label_issues(
    data: IndexedDataset,
    fit: Callable[[IndexedDataset, int], nn.Module],
    *,
    folds: int = 5,
    filter_by: str = "prune_by_noise_rate",
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> LabelIssues:
    """Steps 1–2: the points of ``data`` whose labels confident learning flags."""
    if filter_by not in FILTERS:
        raise ConfigError(f"cleanlab.filter_by must be one of {FILTERS}, got {filter_by!r}")
    cleanlab_find = _cleanlab_filter()
    probs = out_of_fold_probabilities(data, fit, folds=folds, seed=seed, device=device)
    issues = np.asarray(cleanlab_find(data.targets, probs, filter_by=filter_by), dtype=bool)
    return LabelIssues(issues=issues, keep=np.flatnonzero(~issues), probabilities=probs)
