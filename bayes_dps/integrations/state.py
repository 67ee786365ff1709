"""The method's state in a trainer's checkpoint, readable with ``torch.load(weights_only=True)``.

Lightning loads its checkpoints with ``weights_only=True`` and this package reads its own the
same way (nothing in a checkpoint may run code). The rule's and the sampler's states hold numpy
arrays (random-number states, weight traces), which that loader refuses; :func:`portable`
stores each as a tensor under a marker, :func:`restored` turns it back, dtype and shape kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

#: the key that marks a stored numpy array
NDARRAY = "__ndarray__"


def portable(state: Any) -> Any:
    """``state`` with numpy arrays as marked tensors and numpy scalars as Python numbers."""
    if isinstance(state, np.ndarray):
        if state.dtype == object:
            raise TypeError("an object array cannot be stored without pickling its items")
        return {NDARRAY: torch.from_numpy(np.ascontiguousarray(state)).clone()}
    if isinstance(state, np.generic):
        return state.item()
    if isinstance(state, dict):
        return {k: portable(v) for k, v in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(portable(v) for v in state)
    return state


def restored(state: Any) -> Any:
    """The inverse of :func:`portable`."""
    if isinstance(state, dict):
        if set(state) == {NDARRAY}:
            return state[NDARRAY].numpy().copy()
        return {k: restored(v) for k, v in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(restored(v) for v in state)
    return state
