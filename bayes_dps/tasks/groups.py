"""Ground-truth groups of the training points (``clean``/``noisy``, ``minority``/``majority``,
``in_domain``/``off_domain``, per domain or task) and the mean weight of each."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch


def group_masks(dataset, kinds: Iterable[str]) -> dict[str, np.ndarray]:
    """``{group: boolean mask over the dataset}`` for every group of each kind (a dataset's
    ``group_masks(kind)``), in the order of ``kinds``."""
    masks: dict[str, np.ndarray] = {}
    for kind in kinds:
        masks.update(dataset.group_masks(kind))
    return masks


def group_means(w: torch.Tensor, masks: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean weight of each non-empty group (an empty group, such as ``noisy`` on clean data,
    is left out: it has no mean)."""
    w = w.detach().cpu()
    return {g: float(w[torch.as_tensor(m)].mean()) for g, m in masks.items() if m.any()}
