"""Checkpoints, written atomically, the previous one kept.

``save_checkpoint(path, state)`` moves the current ``path`` to ``path.prev`` and writes the new
state in its place (temporary file, fsync, rename), so a killed run leaves at least one whole
checkpoint. ``load_checkpoint`` falls back to ``path.prev`` when ``path`` is truncated or
unreadable (a warning names the file), and raises :class:`CheckpointError` — naming the files
and saying they can be deleted — only when neither can be read.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

from bayes_dps.errors import BayesDPSError
from bayes_dps.io import atomic_torch_save


class CheckpointError(BayesDPSError, RuntimeError):
    """No readable checkpoint where one was expected."""


def previous(path: Path) -> Path:
    return path.with_name(path.name + ".prev")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    path = Path(path)
    if path.is_file():
        os.replace(path, previous(path))
    atomic_torch_save(path, state)


def _read(path: Path) -> dict[str, Any]:
    # checkpoints hold numpy / python RNG states, so full unpickling is needed; they are
    # files this package wrote itself
    state = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(state, dict):
        raise ValueError(f"holds a {type(state).__name__}, not a checkpoint")
    return state


def load_checkpoint(path: str | Path) -> dict[str, Any] | None:
    """The latest readable state at ``path`` (or its ``.prev``), ``None`` when there is none."""
    path = Path(path)
    candidates = [p for p in (path, previous(path)) if p.is_file()]
    errors = []
    for p in candidates:
        try:
            state = _read(p)
        except Exception as err:  # truncated, empty, or not a torch file
            errors.append(f"{p} ({type(err).__name__}: {str(err).splitlines()[0][:80]})")
            continue
        if errors:
            warnings.warn(
                f"checkpoint {errors[0]} is unreadable; resuming from the previous one, {p}",
                RuntimeWarning,
                stacklevel=2,
            )
        return state
    if errors:
        raise CheckpointError(
            "no readable checkpoint: "
            + "; ".join(errors)
            + " — delete these files to restart that run from scratch"
        )
    return None


def remove_checkpoint(path: str | Path) -> None:
    path = Path(path)
    path.unlink(missing_ok=True)
    previous(path).unlink(missing_ok=True)
