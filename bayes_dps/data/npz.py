"""Bring-your-own data: one ``.npz`` file of arrays.

Required: ``x_train, y_train, x_test, y_test``. Optional: ``x_meta, y_meta`` (curated holdout),
``x_val, y_val``, ``classes`` (names) or ``num_classes``. Inputs are ``(N, D)`` vectors or
``(N, C, H, W)`` images; float arrays are used as they are, ``uint8`` arrays are scaled by
1/255. Labels are integers in ``[0, k)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bayes_dps.data.dataset import IndexedDataset, check_labels
from bayes_dps.data.splits import DataSplits
from bayes_dps.errors import DataError, DatasetNotFoundError

REQUIRED = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL_PAIRS = ("meta", "val")


def _inputs(arr: np.ndarray, key: str) -> torch.Tensor:
    if arr.ndim not in (2, 4):
        raise DataError(
            f"{key} must be (N, D) vectors or (N, C, H, W) images, got shape {arr.shape}"
        )
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    elif not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"{key} must be numeric, got dtype {arr.dtype}")
    t = torch.as_tensor(np.ascontiguousarray(arr), dtype=torch.float32)
    if not torch.isfinite(t).all():
        raise DataError(f"{key} contains NaN or infinite values")
    return t


def load_npz(path: str | Path, *, num_classes: int | None = None) -> DataSplits:
    """Load a bring-your-own ``.npz`` file; ``num_classes`` overrides what the file implies."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetNotFoundError(
            f"npz: {path} does not exist. Set dataset.path to a .npz file holding "
            f"{', '.join(REQUIRED)} (optional x_meta/y_meta, x_val/y_val); see README."
        )
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise DataError(f"npz: {path} lacks {', '.join(missing)} (has {', '.join(arrays)})")
    parts = ["train", "test"] + [p for p in OPTIONAL_PAIRS if f"x_{p}" in arrays]
    for p in OPTIONAL_PAIRS:
        if (f"x_{p}" in arrays) != (f"y_{p}" in arrays):
            raise DataError(f"npz: {path} has only one of x_{p} / y_{p}; give both or neither")
    classes = [str(c) for c in arrays["classes"]] if "classes" in arrays else None
    if num_classes is None and "num_classes" in arrays:
        num_classes = int(arrays["num_classes"])
    if num_classes is None:
        num_classes = len(classes) if classes else None
    if num_classes is None:
        num_classes = 1 + max(int(np.max(arrays[f"y_{p}"], initial=-1)) for p in parts)
    if classes is not None and len(classes) != num_classes:
        raise DataError(f"npz: {len(classes)} class names for {num_classes} classes")
    shape = None
    out = {}
    for p in parts:
        x = _inputs(arrays[f"x_{p}"], f"x_{p}")
        y = check_labels(arrays[f"y_{p}"], num_classes, what=f"y_{p} in {path.name}")
        if shape is not None and tuple(x.shape[1:]) != shape:
            raise DataError(f"x_{p} has input shape {tuple(x.shape[1:])}, x_train has {shape}")
        shape = tuple(x.shape[1:])
        if len(x) == 0 and p in ("train", "test"):
            raise DataError(f"npz: x_{p} is empty")
        out[p] = IndexedDataset(x, y, num_classes=num_classes, classes=classes)
    return DataSplits(
        train=out["train"], test=out["test"], meta=out.get("meta"), val=out.get("val"), name="npz"
    )
