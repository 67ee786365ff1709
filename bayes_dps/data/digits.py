"""scikit-learn's bundled handwritten digits: 1797 real 8x8 images, 10 classes, offline."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits as _sk_load_digits

from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.data.splits import DataSplits, stratified_fraction, stratified_take


def load_digits(
    *,
    test_fraction: float = 0.25,
    meta_per_class: int = 10,
    seed: int = 0,
    as_images: bool = False,
) -> DataSplits:
    """Stratified, seeded split of the digits into train / meta / test.

    Pixels (0..16) are scaled to [0, 1]. ``as_images`` gives inputs of shape ``(1, 8, 8)``,
    otherwise flat vectors of 64 values. ``test_fraction`` of every class goes to test, then
    ``meta_per_class`` points per class to the curated meta set, the rest to train.
    """
    bunch = _sk_load_digits()
    x = torch.as_tensor(bunch.data / 16.0, dtype=torch.float32)
    if as_images:
        x = x.reshape(-1, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    classes = [str(c) for c in bunch.target_names]
    full = IndexedDataset(x, y, num_classes=10, classes=classes)
    rng = np.random.default_rng(seed)
    test_idx, rest = stratified_fraction(y, test_fraction, rng, 10)
    meta = None
    if meta_per_class:
        meta_rel, train_rel = stratified_take(y[rest], meta_per_class, rng, 10)
        meta = full.subset(rest[meta_rel])
        rest = rest[train_rel]
    return DataSplits(train=full.subset(rest), test=full.subset(test_idx), meta=meta, name="digits")
