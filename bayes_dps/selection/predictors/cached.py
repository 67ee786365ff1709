"""Logits precomputed once per training index (the paper's speed trick, Deng et al. §4.5).

The table is stored with the fingerprint of the dataset it was computed on; loading it for a
dataset with another size, class count or fingerprint is an error, never silently used.
"""

from __future__ import annotations

from pathlib import Path

import torch

from bayes_dps.data.batches import BatchStream
from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.data.fingerprint import dataset_fingerprint
from bayes_dps.errors import DataError
from bayes_dps.input_files import read_tensor_file
from bayes_dps.io import atomic_torch_save
from bayes_dps.selection.predictors.base import Predictor, check_finite_logits


class CachedLogits(Predictor):
    """``logits(x, idx) = table[idx]``."""

    def __init__(self, table: torch.Tensor, fingerprint: str, name: str = "cached") -> None:
        self.table = check_finite_logits(table, name)
        self.fingerprint = fingerprint
        self.num_classes = table.shape[1]
        self.name = name

    def logits(self, x: torch.Tensor | None, idx: torch.Tensor | None = None) -> torch.Tensor:
        if idx is None:
            raise DataError(f"{self.name} needs dataset indices (a cached predictor)")
        return self.table[idx.to(self.table.device)]

    def to(self, device: torch.device | str) -> CachedLogits:
        return CachedLogits(self.table.to(device), self.fingerprint, self.name)

    def save(self, path: str | Path) -> None:
        payload = {
            "logits": self.table.cpu(),
            "fingerprint": self.fingerprint,
            "num_points": len(self.table),
            "num_classes": self.num_classes,
            "name": self.name,
        }
        atomic_torch_save(path, payload)

    @classmethod
    def load(cls, path: str | Path, dataset: IndexedDataset) -> CachedLogits:
        """Load a cache and check it belongs to ``dataset`` (size, classes, fingerprint). The
        file is untrusted input: read without running code, every field checked."""
        path = Path(path).expanduser()
        fix = "delete it (it is recomputed) or point zero_shot.cache_path to this dataset's cache"
        payload = read_tensor_file(path, "logit cache", fix)
        if not isinstance(payload, dict):
            raise DataError(
                f"logit cache {path} holds a {type(payload).__name__}, not a logit cache; {fix}"
            )
        fields = {"logits": torch.Tensor, "num_points": int, "num_classes": int, "fingerprint": str}
        for key, kind in fields.items():
            value = payload.get(key)
            if not isinstance(value, kind) or isinstance(value, bool):
                got = "nothing" if key not in payload else f"a {type(value).__name__}"
                raise DataError(
                    f"logit cache {path}: '{key}' must be a {kind.__name__}, the file holds "
                    f"{got}; {fix}"
                )
        logits = payload["logits"]
        n, k, fp = payload["num_points"], payload["num_classes"], payload["fingerprint"]
        if logits.ndim != 2 or tuple(logits.shape) != (n, k) or not logits.is_floating_point():
            raise DataError(
                f"logit cache {path}: its logits ({logits.dtype}, shape {tuple(logits.shape)}) "
                f"are not a float table of {n} points × {k} classes as it says; {fix}"
            )
        want = dataset_fingerprint(dataset)
        problems = []
        if n != len(dataset):
            problems.append(f"it has {n} points, the dataset {len(dataset)}")
        if k != dataset.num_classes:
            problems.append(f"it has {k} classes, the dataset {dataset.num_classes}")
        if fp != want:
            problems.append(f"its fingerprint {fp[:12]} differs from the dataset's {want[:12]}")
        if problems:
            raise DataError(
                f"logit cache {path} does not match this dataset: {'; '.join(problems)}. "
                "Delete the file (it is recomputed) or point to the cache of this dataset."
            )
        name = payload.get("name")
        return cls(logits, fp, name=name if isinstance(name, str) else "cached")


@torch.no_grad()
def compute_logit_table(
    predictor: Predictor,
    dataset: IndexedDataset,
    *,
    batch_size: int = 512,
    device: torch.device | str = "cpu",
    num_workers: int = 0,
) -> CachedLogits:
    """Run ``predictor`` once over ``dataset`` (its evaluation transform) and keep the logits."""
    stream = BatchStream.sequential(
        dataset.for_eval(),
        batch_size,
        device=device,
        num_workers=num_workers,
    )
    table = torch.empty(len(dataset), predictor.num_classes)
    for x, _, idx in stream:
        table[idx.cpu()] = predictor.logits(x, idx).float().cpu()
    return CachedLogits(table, dataset_fingerprint(dataset), name=f"cached {predictor.name}")
