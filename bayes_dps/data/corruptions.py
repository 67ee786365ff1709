"""Corruptions of a training set that keep the ground truth per index.

* :func:`symmetric_label_noise` — exactly ``round(r·N)`` labels flipped, each to a uniformly
  chosen *different* class (the "symmetric noise" of the papers).
* :func:`long_tail` — class sizes ``n_c = ⌊n_max · ρ^(−c/(K−1))⌋`` (exponential profile of Cao
  et al. 2019), or a step profile with the first half of the classes rare.
* :func:`off_domain_copies` + :func:`mix_domains` — add points from another domain, flagged
  ``off_domain``.

Meta, validation and test sets are never passed through these functions.
"""

from __future__ import annotations

import numpy as np
import torch

from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.errors import DataError

PROFILES = ("exp", "step")
OFF_DOMAIN_KINDS = ("permute", "invert", "shuffle")


def symmetric_label_noise(dataset: IndexedDataset, rate: float, seed: int = 0) -> IndexedDataset:
    """Flip exactly ``round(rate · N)`` labels, each to a different class chosen uniformly."""
    if not 0.0 <= rate <= 1.0:
        raise DataError(f"dataset.noise must lie in [0, 1], got {rate}")
    k = dataset.num_classes
    if rate > 0 and k < 2:
        raise DataError("label noise needs at least 2 classes")
    rng = np.random.default_rng(seed)
    n = len(dataset)
    flip = rng.choice(n, size=round(rate * n), replace=False)
    targets = dataset.targets.copy()
    # adding 1..k-1 modulo k gives each other class with equal probability
    targets[flip] = (targets[flip] + rng.integers(1, k, size=len(flip))) % k
    return dataset.with_targets(targets)


def long_tail_counts(n_max: int, num_classes: int, ratio: float, profile: str = "exp") -> list[int]:
    """Per-class sizes of a long-tailed set with imbalance ratio ``ρ = n_0 / n_{K-1}``."""
    if ratio < 1:
        raise DataError(f"dataset.imbalance must be >= 1 (n_max / n_min), got {ratio}")
    if profile not in PROFILES:
        raise DataError(f"dataset.imbalance_profile must be one of {PROFILES}, got {profile!r}")
    k = num_classes
    if profile == "exp":
        if k == 1:
            return [n_max]
        return [int(n_max * ratio ** (-c / (k - 1))) for c in range(k)]
    # step: the first half of the classes are the minority
    return [int(n_max / ratio) if c < k // 2 else n_max for c in range(k)]


def long_tail(
    dataset: IndexedDataset, ratio: float, seed: int = 0, profile: str = "exp"
) -> IndexedDataset:
    """Subsample classes to a long-tailed profile; flags classes below ``n_max/√ρ`` minority.

    ``n_max`` is the size of the smallest class, so that every class can supply its quota.
    """
    counts = dataset.class_counts()
    n_max = int(counts.min())
    quota = long_tail_counts(n_max, dataset.num_classes, ratio, profile)
    if min(quota) < 1:
        raise DataError(
            f"imbalance ratio {ratio} leaves a class empty (smallest class has {n_max} points); "
            "lower dataset.imbalance"
        )
    rng = np.random.default_rng(seed)
    keep = []
    for c, q in enumerate(quota):
        idx = np.flatnonzero(dataset.targets == c)
        keep.append(np.sort(rng.choice(idx, size=q, replace=False)))
    keep_idx = np.sort(np.concatenate(keep))
    minority_classes = np.array([q < n_max / np.sqrt(ratio) for q in quota])
    sub = dataset.subset(keep_idx)
    sub.annotations["minority"] = minority_classes[sub.annotations["true_target"]]
    return sub


def off_domain_copies(
    dataset: IndexedDataset, size: int, kind: str = "permute", seed: int = 0
) -> IndexedDataset:
    """``size`` points of ``dataset`` moved to another domain, with their labels kept.

    ``permute`` applies one fixed random pixel permutation (a consistent but different domain),
    ``invert`` maps ``v → max − v``, ``shuffle`` permutes each point's pixels independently
    (unstructured inputs). Needs in-memory tensor or array inputs.
    """
    if kind not in OFF_DOMAIN_KINDS:
        raise DataError(f"dataset.domain.kind must be one of {OFF_DOMAIN_KINDS}, got {kind!r}")
    if not isinstance(dataset.inputs, torch.Tensor | np.ndarray):
        raise DataError("off-domain copies need in-memory inputs (digits, npz, CIFAR)")
    if size < 1:
        raise DataError(f"off-domain size must be >= 1, got {size}")
    rng = np.random.default_rng(seed)
    src = rng.choice(len(dataset), size=size, replace=size > len(dataset))
    base = dataset.subset(np.sort(src))
    x = (
        torch.as_tensor(np.asarray(base.inputs))
        if isinstance(base.inputs, np.ndarray)
        else base.inputs
    )
    flat = x.reshape(len(x), -1)
    if kind == "permute":
        perm = torch.as_tensor(rng.permutation(flat.shape[1]))
        flat = flat[:, perm]
    elif kind == "invert":
        flat = flat.max() - flat
    else:
        order = torch.as_tensor(np.argsort(rng.random(flat.shape), axis=1))
        flat = torch.gather(flat, 1, order)
    new = flat.reshape(x.shape)
    if isinstance(base.inputs, np.ndarray):
        new = new.numpy()
    ann = {k: v.copy() for k, v in base.annotations.items()}
    ann["off_domain"] = np.ones(len(base), dtype=bool)
    return base._replace(inputs=new, annotations=ann)


def mix_domains(in_domain: IndexedDataset, off_domain: IndexedDataset) -> IndexedDataset:
    """``in_domain`` followed by ``off_domain``, the latter flagged ``off_domain``."""
    off = off_domain.with_targets(
        off_domain.targets, off_domain=np.ones(len(off_domain), dtype=bool)
    )
    return in_domain.concat(off)
