"""Checkpoints: written atomically with a content hash beside them, the previous one kept, and
read without running code.

``save_checkpoint(path, state)`` moves the current ``path`` (and its hash) to ``path.prev`` and
writes the new state in its place (temporary file, fsync, rename), then its SHA-256 to
``path.sha256``, so a killed run leaves at least one whole, verifiable checkpoint.

``load_checkpoint`` checks the file against its hash before reading it — a flipped byte, a
truncated write or a file without its hash is not trusted — and reads it with
``torch.load(weights_only=True)``: tensors, numbers, strings and containers, and numpy arrays
(the random states), nothing that runs code (a checkpoint with a pickled payload, as from a
shared folder or a downloaded run, is refused). It falls back to ``path.prev`` with a warning
naming what was wrong, and raises :class:`CheckpointError` — naming the files and saying they
can be deleted — only when neither can be used.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bayes_dps.errors import BayesDPSError
from bayes_dps.io import atomic_torch_save, atomic_write_bytes

#: what a checkpoint may hold beyond torch's own safe types: numeric numpy arrays (random
#: states, weight traces) — their reconstruction function, the array type and the dtypes
NUMERIC = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
           np.uint64, np.float16, np.float32, np.float64)  # fmt: skip
SAFE_NUMPY = [np.ndarray, np.dtype, *(type(np.dtype(t)) for t in NUMERIC)]
try:  # numpy ≥ 2 keeps the reconstruction function in numpy._core
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1
    from numpy.core.multiarray import _reconstruct
SAFE_NUMPY.append(_reconstruct)


class CheckpointError(BayesDPSError, RuntimeError):
    """No readable checkpoint where one was expected."""


def previous(path: Path) -> Path:
    return path.with_name(path.name + ".prev")


def digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    path = Path(path)
    if path.is_file():
        os.replace(path, previous(path))
        if digest_path(path).is_file():
            os.replace(digest_path(path), digest_path(previous(path)))
    atomic_torch_save(path, state)
    atomic_write_bytes(digest_path(path), (sha256(path) + "\n").encode())


def _read(path: Path) -> dict[str, Any]:
    """The verified, safely unpickled state at ``path`` (raises ``ValueError`` saying why
    not)."""
    digest = digest_path(path)
    if not digest.is_file():
        raise ValueError("has no content hash beside it (.sha256): it cannot be verified")
    if digest.read_text().strip() != sha256(path):
        raise ValueError("does not match its content hash: the file was changed or damaged")
    try:
        with torch.serialization.safe_globals(SAFE_NUMPY):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        named = [ln for ln in lines if "GLOBAL" in ln or "global" in ln or "but got" in ln]
        reason = (named or lines or [type(err).__name__])[0].removeprefix(
            "WeightsUnpickler error: "
        )
        raise ValueError(
            f"holds objects a checkpoint has no reason to hold, not loaded ({reason[:140]})"
        ) from None
    if not isinstance(state, dict):
        raise ValueError(f"holds a {type(state).__name__}, not a checkpoint")
    return state


def load_checkpoint(path: str | Path) -> dict[str, Any] | None:
    """The latest verified state at ``path`` (or its ``.prev``), ``None`` when there is
    none."""
    path = Path(path)
    candidates = [p for p in (path, previous(path)) if p.is_file()]
    errors = []
    for p in candidates:
        try:
            state = _read(p)
        except Exception as err:  # unverifiable, damaged, unsafe, not a torch file
            errors.append(f"{p} ({str(err).splitlines()[0][:160]})")
            continue
        if errors:
            warnings.warn(
                f"checkpoint {errors[0]}; resuming from the previous one, {p}",
                RuntimeWarning,
                stacklevel=2,
            )
        return state
    if errors:
        raise CheckpointError(
            "no usable checkpoint: "
            + "; ".join(errors)
            + " — delete these files to restart that run from scratch"
        )
    return None


def remove_checkpoint(path: str | Path) -> None:
    path = Path(path)
    for p in (path, previous(path)):
        p.unlink(missing_ok=True)
        digest_path(p).unlink(missing_ok=True)
