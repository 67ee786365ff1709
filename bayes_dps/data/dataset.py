"""Index-carrying datasets: every item is ``(x, y, index)``.

Per-point state elsewhere in the package (instance weights ``w_i``, cached zero-shot logits,
corruption flags) is looked up by ``index``, the point's position in its dataset. Corruptions
never lose ground truth: ``annotations`` holds, per index, the true label and flags for label
noise, minority classes and off-domain points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from bayes_dps.errors import DataError

#: annotation name -> (group kind, name when False, name when True)
GROUP_KINDS = {
    "noise": ("noisy", "clean", "noisy"),
    "imbalance": ("minority", "majority", "minority"),
    "domain": ("off_domain", "in_domain", "off_domain"),
}


def check_labels(targets: np.ndarray, num_classes: int, what: str = "labels") -> np.ndarray:
    """Return ``targets`` as int64, raising :class:`DataError` when a label is outside [0, k)."""
    if not isinstance(num_classes, int | np.integer) or num_classes < 1:
        raise DataError(
            f"{what}: the class count must be a positive integer, got {num_classes!r}; set "
            "dataset.num_classes (or the file's num_classes) to the number of classes"
        )
    arr = np.asarray(targets)
    if arr.ndim != 1:
        raise DataError(f"{what} must be a 1-d array of class ids, got shape {arr.shape}")
    if arr.dtype.kind not in "iub":  # an empty array of text is no more labels than a full one
        if (
            arr.dtype.kind != "f"
            or not np.all(np.isfinite(arr))
            or not np.all(arr == np.round(arr))
        ):
            raise DataError(f"{what} must be integer class ids, got dtype {arr.dtype}")
    bad = (arr < 0) | (arr >= num_classes)  # compared in the array's own type (uint64 too)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{what} must lie in [0, {num_classes}); found {arr[first].item()} at position "
            f"{first} ({int(bad.sum())} out of range). Relabel the classes to 0..k-1 or set "
            f"dataset.num_classes to the true class count."
        )
    return arr.astype(np.int64)


def per_index_annotations(
    annotations: dict[str, Any] | None, n: int, defaults: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """``annotations`` as per-index arrays of length ``n``, with ``defaults`` for the keys not
    given; an array of another length is a :class:`DataError` naming the key."""
    ann = {k: np.asarray(v) for k, v in (annotations or {}).items()}
    for k, v in defaults.items():
        ann.setdefault(k, v)
    for k, v in ann.items():
        if len(v) != n:
            raise DataError(f"annotation {k!r} has length {len(v)}, dataset has {n}")
    return ann


def _take(inputs: Any, indices: np.ndarray) -> Any:
    if isinstance(inputs, torch.Tensor):
        return inputs[torch.as_tensor(indices, dtype=torch.long)]
    if isinstance(inputs, np.ndarray):
        return inputs[indices]
    return [inputs[int(i)] for i in indices]


def _concat(a: Any, b: Any) -> Any:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return torch.cat([a, b.to(a.dtype)])
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return np.concatenate([a, b.astype(a.dtype)])
    if isinstance(a, list) and isinstance(b, list):
        return a + b
    raise DataError(
        f"cannot concatenate inputs of types {type(a).__name__} and {type(b).__name__}; "
        "convert both to tensors or arrays first"
    )


class IndexedDataset(Dataset):
    """A labelled dataset whose items are ``(x, y, index)``.

    Args:
        inputs: a ``torch.Tensor`` or ``np.ndarray`` with one row per point, or a sequence of
            items (file paths, PIL images) read by ``loader``.
        targets: observed labels, ints in ``[0, num_classes)``.
        num_classes: ``k``.
        classes: class names (defaults to ``"0" … "k-1"``).
        transform: applied to each (loaded) input; without one, inputs become tensors as is.
        eval_transform: the deterministic variant of ``transform`` (no augmentation), used by
            :meth:`for_eval` when logits are computed once per point.
        loader: turns a stored item (for example a path) into an input.
        annotations: per-index arrays; ``true_target``, ``noisy``, ``minority`` and
            ``off_domain`` are filled in when absent.
    """

    def __init__(
        self,
        inputs: Any,
        targets: Sequence[int] | np.ndarray,
        *,
        num_classes: int,
        classes: Sequence[str] | None = None,
        transform: Callable | None = None,
        eval_transform: Callable | None = None,
        loader: Callable | None = None,
        annotations: dict[str, np.ndarray] | None = None,
    ) -> None:
        if num_classes < 1:
            raise DataError(f"num_classes must be >= 1, got {num_classes}")
        self.targets = check_labels(np.asarray(targets), num_classes)
        if len(inputs) != len(self.targets):
            raise DataError(
                f"inputs and labels differ in length: {len(inputs)} inputs, "
                f"{len(self.targets)} labels"
            )
        self.inputs = inputs
        self.num_classes = int(num_classes)
        self.classes = (
            list(classes) if classes is not None else [str(c) for c in range(num_classes)]
        )
        if len(self.classes) != self.num_classes:
            raise DataError(f"{len(self.classes)} class names given for {num_classes} classes")
        self.transform = transform
        self.eval_transform = eval_transform
        self.loader = loader
        n = len(self.targets)
        defaults = {flag: np.zeros(n, dtype=bool) for flag, _, _ in GROUP_KINDS.values()}
        self.annotations = per_index_annotations(
            annotations, n, {"true_target": self.targets.copy(), **defaults}
        )

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        x = self.inputs[index]
        if self.loader is not None:
            x = self.loader(x)
        x = self.transform(x) if self.transform is not None else torch.as_tensor(x)
        return x, int(self.targets[index]), int(index)

    # ------------------------------------------------------------------ views
    @property
    def tensor_backed(self) -> bool:
        """True when a batch is one tensor indexing (no per-item loader or transform)."""
        return (
            isinstance(self.inputs, torch.Tensor) and self.transform is None and self.loader is None
        )

    @property
    def is_noisy(self) -> np.ndarray:
        """Per index: the observed label differs from the true one."""
        return self.targets != self.annotations["true_target"]

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.targets, minlength=self.num_classes)

    def group_masks(self, kind: str) -> dict[str, np.ndarray]:
        """Boolean masks per group for a corruption kind (``noise``, ``imbalance``, ``domain``)."""
        if kind not in GROUP_KINDS:
            raise DataError(f"unknown group kind {kind!r}; choose from {sorted(GROUP_KINDS)}")
        flag, off_name, on_name = GROUP_KINDS[kind]
        mask = self.is_noisy if kind == "noise" else self.annotations[flag].astype(bool)
        return {off_name: ~mask, on_name: mask}

    def _replace(self, **changes: Any) -> IndexedDataset:
        kwargs = dict(
            inputs=self.inputs,
            targets=self.targets,
            num_classes=self.num_classes,
            classes=self.classes,
            transform=self.transform,
            eval_transform=self.eval_transform,
            loader=self.loader,
            annotations=self.annotations,
        )
        kwargs.update(changes)
        return IndexedDataset(kwargs.pop("inputs"), kwargs.pop("targets"), **kwargs)

    def subset(self, indices: Sequence[int] | np.ndarray) -> IndexedDataset:
        """The points at ``indices``, re-indexed ``0..m-1`` (annotations follow them)."""
        idx = np.asarray(indices, dtype=np.int64)
        return self._replace(
            inputs=_take(self.inputs, idx),
            targets=self.targets[idx],
            annotations={k: v[idx] for k, v in self.annotations.items()},
        )

    def concat(self, other: IndexedDataset) -> IndexedDataset:
        """This dataset followed by ``other`` (same classes, loader and transform)."""
        if other.num_classes != self.num_classes:
            raise DataError(
                f"cannot concatenate datasets of {self.num_classes} and {other.num_classes} classes"
            )
        keys = set(self.annotations) | set(other.annotations)
        ann = {}
        for k in keys:
            if k not in self.annotations or k not in other.annotations:
                raise DataError(f"annotation {k!r} exists in only one of the datasets")
            ann[k] = np.concatenate([self.annotations[k], other.annotations[k]])
        return self._replace(
            inputs=_concat(self.inputs, other.inputs),
            targets=np.concatenate([self.targets, other.targets]),
            annotations=ann,
        )

    def with_targets(self, targets: np.ndarray, **annotations: np.ndarray) -> IndexedDataset:
        """A copy with new observed labels (true labels stay in ``annotations``)."""
        ann = dict(self.annotations)
        ann.update(annotations)
        return self._replace(targets=targets, annotations=ann)

    def with_transform(self, transform: Callable | None) -> IndexedDataset:
        return self._replace(transform=transform)

    def for_eval(self) -> IndexedDataset:
        """The same points with the evaluation transform (no random augmentation)."""
        if self.eval_transform is None:
            return self
        return self._replace(transform=self.eval_transform)
