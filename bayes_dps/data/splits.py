"""The train / meta / val / test bundle and stratified splitting."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.errors import DataError


@dataclass
class DataSplits:
    """Splits of one task.

    ``train`` is the (possibly corrupted) training set ``D_t``; ``meta`` the curated holdout
    ``D_m`` (never corrupted); ``test`` the target distribution (never corrupted); ``val`` an
    optional clean validation set for hyper-parameter tuning.
    """

    train: IndexedDataset
    test: IndexedDataset
    meta: IndexedDataset | None = None
    val: IndexedDataset | None = None
    name: str = ""
    #: per-channel (mean, std) the inputs were normalised with (for zero-shot predictors that
    #: must undo it); ``None`` when inputs are raw values in [0, 1]
    normalization: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    #: what was done to the data on the config's request (corruptions), one line each, for
    #: the run's log
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return self.train.num_classes

    @property
    def classes(self) -> list[str]:
        return self.train.classes

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one (transformed) training input."""
        return tuple(self.train[0][0].shape)

    def sizes(self) -> dict[str, int]:
        out = {"train": len(self.train), "test": len(self.test)}
        if self.meta is not None:
            out["meta"] = len(self.meta)
        if self.val is not None:
            out["val"] = len(self.val)
        return out


def stratified_take(
    targets: np.ndarray, per_class: int, rng: np.random.Generator, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``per_class`` random indices of every class; return ``(taken, rest)``, both sorted.

    Raises :class:`DataError` if a class has no more than ``per_class`` points (the rest
    would lose the class entirely).
    """
    if per_class < 0:
        raise DataError(f"meta_per_class must be >= 0, got {per_class}")
    targets = np.asarray(targets)
    taken = []
    for c in range(num_classes):
        idx = np.flatnonzero(targets == c)
        if per_class and len(idx) <= per_class:
            fix = (
                f"lower dataset.meta_per_class below {len(idx)}"
                if len(idx) > 1
                else "give it training points (or relabel the classes to 0..k-1 without gaps), "
                "or set dataset.meta_per_class=0 and give x_meta/y_meta"
            )
            raise DataError(
                f"class {c} has {len(idx)} point{'s' if len(idx) != 1 else ''}, too few to hold "
                f"out {per_class} of them and keep one for training; {fix}"
            )
        taken.append(rng.choice(idx, size=per_class, replace=False))
    taken_idx = np.sort(np.concatenate(taken)).astype(np.int64)
    rest = np.setdiff1d(np.arange(len(targets)), taken_idx)
    return taken_idx, rest


def stratified_fraction(
    targets: np.ndarray, fraction: float, rng: np.random.Generator, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``round(fraction * n_c)`` random indices of each class; return ``(taken, rest)``."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"a split fraction must lie in (0, 1), got {fraction}")
    targets = np.asarray(targets)
    taken = []
    for c in range(num_classes):
        idx = np.flatnonzero(targets == c)
        taken.append(rng.choice(idx, size=round(fraction * len(idx)), replace=False))
    taken_idx = np.sort(np.concatenate(taken)).astype(np.int64)
    return taken_idx, np.setdiff1d(np.arange(len(targets)), taken_idx)


def stratified_folds(targets: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A fold id in ``[0, k)`` per point; each class is dealt round-robin over the folds
    after a shuffle, so every fold holds its share of every class."""
    folds = np.empty(len(targets), dtype=np.int64)
    for c in np.unique(targets):
        idx = rng.permutation(np.flatnonzero(targets == c))
        folds[idx] = (np.arange(len(idx)) + rng.integers(k)) % k
    return folds
