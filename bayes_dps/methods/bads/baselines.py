"""The data baselines of the BADS paper (Fig. 2/3): training sets built from ``D_t`` and
``D_m`` and trained on by plain minibatch steps.

* ``mixing`` — ``D_t ∪ D_m``;
* ``meta_only`` — ``D_m``;
* ``dup_meta`` — ``D_t`` and ``D_m`` repeated to the size of ``D_t``;
* ``random_select`` — a random ``select_fraction`` of ``D_t``, plus ``D_m``.
"""

from __future__ import annotations

import numpy as np

from bayes_dps.data.dataset import IndexedDataset

DATA_BASELINES = ("mixing", "meta_only", "dup_meta", "random_select")


def baseline_data(
    method: str, train: IndexedDataset, meta: IndexedDataset, select_fraction: float, seed: int
) -> IndexedDataset:
    """The training set of a data baseline (indices are positions in the returned set)."""
    if method == "mixing":
        return train.concat(meta)
    if method == "meta_only":
        return meta
    if method == "dup_meta":
        reps = max(1, int(np.ceil(len(train) / len(meta))))
        dup = meta
        for _ in range(reps - 1):
            dup = dup.concat(meta)
        return train.concat(dup)
    if method == "random_select":
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(train), round(select_fraction * len(train)), replace=False))
        return train.subset(keep).concat(meta)
    raise ValueError(method)
