"""A stable fingerprint of a dataset's inputs (for caches keyed by dataset)."""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from bayes_dps.data.dataset import IndexedDataset


def dataset_fingerprint(dataset: IndexedDataset) -> str:
    """SHA-256 over size, class count and inputs (tensor/array bytes, or item names for
    datasets read from files). Labels are excluded: logits do not depend on them."""
    h = hashlib.sha256()
    h.update(f"{len(dataset)}:{dataset.num_classes}".encode())
    inputs = dataset.inputs
    if isinstance(inputs, torch.Tensor):
        h.update(inputs.detach().cpu().contiguous().numpy().tobytes())
    elif isinstance(inputs, np.ndarray):
        h.update(np.ascontiguousarray(inputs).tobytes())
    else:
        for item in inputs:
            h.update(str(item).encode())
            h.update(b"\0")
    return h.hexdigest()
