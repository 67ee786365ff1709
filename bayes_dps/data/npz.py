"""Bring-your-own data: one ``.npz`` file of arrays.

Required: ``x_train, y_train, x_test, y_test``. Optional: ``x_meta, y_meta`` (curated holdout),
``x_val, y_val``, ``classes`` (names) or ``num_classes``. Inputs are ``(N, D)`` vectors or
``(N, C, H, W)`` images; float arrays are used as they are, ``uint8`` arrays are scaled by
1/255. Labels are integers in ``[0, k)``.
"""

from __future__ import annotations

import zipfile
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
    if path.is_dir():
        raise DataError(f"npz: {path} is a folder; set dataset.path to a .npz file")
    if not path.is_file():
        raise DatasetNotFoundError(
            f"npz: {path} does not exist. Set dataset.path to a .npz file holding "
            f"{', '.join(REQUIRED)} (optional x_meta/y_meta, x_val/y_val); see README."
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as err:
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        hint = (
            "object arrays are not loaded (they would run pickled code); save plain numeric arrays"
            if "allow_pickle" in reason
            else "is it a .npz written by numpy.savez, and complete?"
        )
        raise DataError(f"npz: {path} cannot be read ({reason}); {hint}") from err
    if not isinstance(arrays, dict) or not arrays:
        raise DataError(f"npz: {path} holds no arrays; it needs {', '.join(REQUIRED)}")
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
    if num_classes is None:  # the labels' own range (validated first: no NaN, integers)
        num_classes = 1 + max(
            int(np.max(check_labels(arrays[f"y_{p}"], 2**62, what=f"y_{p} in {path.name}"),
                       initial=-1))
            for p in parts
        )  # fmt: skip
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
    splits = DataSplits(
        train=out["train"], test=out["test"], meta=out.get("meta"), val=out.get("val"), name="npz"
    )
    x = out["train"].inputs
    if x.dim() == 2 and arrays["x_train"].dtype != np.uint8:
        mean, std = float(x.mean()), float(x.std())
        if abs(mean) > 5 or not 0.05 < std < 20:
            splits.notes.append(
                f"x_train's features have mean {mean:.3g} and std {std:.3g}: standardise them "
                "(zero mean, unit variance per feature, with the training set's statistics) — "
                "the networks and the configs' learning rates assume inputs of that scale"
            )
    return splits
