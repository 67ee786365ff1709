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

from bayes_dps.checks import memory_bytes
from bayes_dps.data.dataset import IndexedDataset, check_labels
from bayes_dps.data.splits import DataSplits
from bayes_dps.errors import DataError
from bayes_dps.input_files import check_input_file

REQUIRED = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL_PAIRS = ("meta", "val")


def _inputs(arr: np.ndarray, key: str) -> torch.Tensor:
    if arr.ndim not in (2, 4):
        raise DataError(
            f"{key} must be (N, D) vectors or (N, C, H, W) images, got shape {arr.shape}"
        )
    if 0 in arr.shape[1:]:
        raise DataError(f"{key} has shape {arr.shape}: an input needs at least one feature")
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    elif arr.dtype.kind not in "biuf":
        raise DataError(f"{key} must be real numbers, got dtype {arr.dtype}")
    t = torch.as_tensor(np.ascontiguousarray(arr), dtype=torch.float32)
    if not torch.isfinite(t).all():
        raise DataError(f"{key} contains NaN or infinite values")
    return t


#: the most classes a file may declare (a typo beyond it would size every output layer)
MAX_CLASSES = 100_000


def _headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """``{array: (shape, dtype)}`` from the headers of a ``.npz`` archive, read before any
    array is: what the file declares, checked before it is allocated."""
    read_header = getattr(np.lib.format, "_read_array_header", None)
    out = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with z.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if read_header is not None:
                    shape, _, dtype = read_header(fh, version)
                elif version == (1, 0):  # pragma: no cover - older numpy
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                else:  # pragma: no cover
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            out[info.filename.removesuffix(".npy")] = (tuple(shape), dtype)
    return out


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of ``path``, refusing — before reading them — a file that is not a zip of
    arrays, object arrays (they would run pickled code) and arrays larger than half the
    machine's memory. Errors name the file and the array, never its content."""
    with open(path, "rb") as fh:
        start = fh.read(6)
    if start == b"\x93NUMPY":
        raise DataError(
            f"npz: {path} is a single .npy array, not a .npz archive of named arrays; save "
            "with numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"
        )
    if start.startswith(b"PK\x03\x04") and not zipfile.is_zipfile(path):
        raise DataError(
            f"npz: {path} cannot be read: it starts as a zip file but its directory is missing "
            "(truncated or damaged); write it again with numpy.savez"
        )
    if not zipfile.is_zipfile(path):
        raise DataError(
            f"npz: {path} is not a .npz archive (numpy.savez writes a zip file of named "
            "arrays; this file is not a zip file — text, or another format, named .npz?)"
        )
    limit = memory_bytes() // 2
    try:
        for name, (shape, dtype) in _headers(path).items():
            if dtype.hasobject:
                raise DataError(
                    f"npz: {path}: {name} is an object array, which is not loaded (it would "
                    "run pickled code); save plain numeric arrays"
                )
            size = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if size > limit:
                raise DataError(
                    f"npz: {path}: {name} declares shape {shape} of {dtype}, {size / 2**30:,.0f} "
                    f"GiB — more than half this machine's {2 * limit / 2**30:.0f} GiB of memory; "
                    "is the file damaged, or meant for a larger machine?"
                )
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except DataError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as err:
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise DataError(
            f"npz: {path} cannot be read ({reason}); is it a .npz written by numpy.savez, and "
            "complete?"
        ) from None


def _class_names(value: np.ndarray, path: Path) -> list[str]:
    """The file's ``classes``: a 1-d array of names (text, or numbers written as text)."""
    if value.ndim != 1 or value.dtype.kind not in "USiu" or not 1 <= len(value) <= MAX_CLASSES:
        raise DataError(
            f"npz: classes in {path} must be a 1-d array of 1 to {MAX_CLASSES:,} class names, "
            f"got {value.dtype} of shape {value.shape}; fix the file or leave classes out"
        )
    return [str(c) for c in value.tolist()]


def _num_classes(value: np.ndarray, path: Path) -> int:
    """The file's ``num_classes``: one positive integer, at most :data:`MAX_CLASSES`."""
    if (
        value.size != 1
        or value.dtype.kind not in "iu"
        or not 1 <= value.reshape(-1)[0] <= MAX_CLASSES
    ):
        shown = value.reshape(-1)[:3].tolist() if value.dtype.kind in "biufc" else value.dtype
        raise DataError(
            f"npz: num_classes in {path} must be one integer in [1, {MAX_CLASSES:,}], got "
            f"{shown} ({value.dtype}, shape {value.shape}); fix the file or set "
            "dataset.num_classes"
        )
    return int(value.reshape(-1)[0])


def load_npz(path: str | Path, *, num_classes: int | None = None) -> DataSplits:
    """Load a bring-your-own ``.npz`` file; ``num_classes`` overrides what the file implies."""
    path = Path(path).expanduser()
    fix = (
        f"set dataset.path to a .npz file holding {', '.join(REQUIRED)} (optional "
        "x_meta/y_meta, x_val/y_val); see docs/guide/data.md"
    )
    check_input_file(path, "npz: data file", fix)
    arrays = _read_npz(path)
    if not isinstance(arrays, dict) or not arrays:
        raise DataError(f"npz: {path} holds no arrays; it needs {', '.join(REQUIRED)}")
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise DataError(f"npz: {path} lacks {', '.join(missing)} (has {', '.join(arrays)})")
    parts = ["train", "test"] + [p for p in OPTIONAL_PAIRS if f"x_{p}" in arrays]
    for p in OPTIONAL_PAIRS:
        if (f"x_{p}" in arrays) != (f"y_{p}" in arrays):
            raise DataError(f"npz: {path} has only one of x_{p} / y_{p}; give both or neither")
    classes = _class_names(arrays["classes"], path) if "classes" in arrays else None
    if num_classes is None and "num_classes" in arrays:
        num_classes = _num_classes(arrays["num_classes"], path)
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
