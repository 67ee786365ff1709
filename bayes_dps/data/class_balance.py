"""Class-balanced training, the practitioner's answer to class imbalance: per-class loss
weights, or class-balanced sampling.

* ``inverse``: ``w_c ∝ 1 / n_c`` (every class contributes equally to the expected loss);
* ``effective``: ``w_c ∝ (1 − β) / (1 − β^{n_c})``, the inverse "effective number of samples"
  of Cui et al. 2019 (Eq. 3–4 of "Class-Balanced Loss Based on Effective Number of Samples");
  ``β → 0`` gives uniform weights, ``β → 1`` the inverse frequencies.

The weights are scaled so that their mean over the training points is 1 (the loss keeps the
scale of uniform weights; Cui et al. normalise ``Σ_c w_c = K`` over classes instead, which
differs by a constant factor absorbed by the step size). :class:`ClassBalancedStream` draws
every epoch's points with replacement with probability ``∝ 1 / n_{y_i}``, so each class is
drawn equally often in expectation.
"""

from __future__ import annotations

import numpy as np
import torch

from bayes_dps.data.batches import BatchStream
from bayes_dps.errors import ConfigError, DataError

SCHEMES = ("inverse", "effective")


def class_weights(
    targets: np.ndarray, num_classes: int, scheme: str = "inverse", beta: float = 0.999
) -> np.ndarray:
    """``w_c`` for every class (0 for a class without training points), with mean weight 1
    over the points of ``targets``."""
    if scheme not in SCHEMES:
        raise ConfigError(f"class_balance.scheme must be one of {SCHEMES}, got {scheme!r}")
    if not 0.0 <= beta < 1.0:
        raise ConfigError(f"class_balance.beta must lie in [0, 1), got {beta}")
    counts = np.bincount(np.asarray(targets), minlength=num_classes).astype(np.float64)
    if counts.sum() == 0:
        raise DataError("class-balanced weights need at least one training label")
    present = counts > 0
    w = np.zeros(num_classes)
    if scheme == "inverse":
        w[present] = 1.0 / counts[present]
    else:
        w[present] = (1.0 - beta) / (1.0 - beta ** counts[present])
    return w / (w[targets].mean())


def point_weights(targets: np.ndarray, num_classes: int, scheme="inverse", beta=0.999):
    """``w_{y_i}`` for every point (a float tensor)."""
    w = class_weights(targets, num_classes, scheme, beta)
    return torch.as_tensor(w[np.asarray(targets)], dtype=torch.float32)


class ClassBalancedStream(BatchStream):
    """A :class:`BatchStream` whose epoch ``e`` is ``len(dataset)`` points drawn with
    replacement, point ``i`` with probability ``∝ 1 / n_{y_i}``, from a generator seeded by
    ``(seed, e)`` — class-balanced sampling that a resumed run repeats exactly."""

    def __init__(self, dataset, batch_size: int, **kwargs) -> None:
        super().__init__(dataset, batch_size, **kwargs)
        targets = np.asarray(dataset.targets)
        counts = np.bincount(targets, minlength=dataset.num_classes)
        self.probabilities = torch.as_tensor(1.0 / counts[targets], dtype=torch.float64)

    def order(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(int(self.seed) * 1_000_003 + int(epoch))
        return torch.multinomial(
            self.probabilities, len(self.dataset), replacement=True, generator=g
        )
