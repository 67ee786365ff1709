"""Per-epoch checkpoints, written atomically so a killed run never leaves a broken file."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from bayes_dps.io import atomic_write


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, lambda fh: fh.write(buf.getvalue()))


def load_checkpoint(path: str | Path) -> dict[str, Any] | None:
    """The saved state, or ``None`` when there is no checkpoint at ``path``."""
    path = Path(path)
    if not path.is_file():
        return None
    # checkpoints hold numpy / python RNG states, so full unpickling is needed; they are
    # files this package wrote itself
    return torch.load(path, map_location="cpu", weights_only=False)
