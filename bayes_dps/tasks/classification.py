"""The classification task: the package's classifiers on a :class:`DataSplits` (see
``tasks/__init__.py`` for the interface every task has)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from bayes_dps.data.batches import BatchStream
from bayes_dps.data.splits import DataSplits
from bayes_dps.models.likelihoods import Classification, Likelihood
from bayes_dps.models.registry import build_model
from bayes_dps.tasks.groups import group_masks
from bayes_dps.tasks.metrics import evaluate


class ClassificationTask:
    """The package's classifiers on a :class:`DataSplits`."""

    kind = "classification"

    def __init__(self, cfg: dict[str, Any], splits: DataSplits) -> None:
        self.cfg, self.splits = cfg, splits
        self.train, self.meta, self.test = splits.train, splits.meta, splits.test
        self.likelihood: Likelihood = Classification()

    def build_model(self, device: torch.device) -> nn.Module:
        cfg, s = self.cfg, self.splits
        return build_model(cfg["model"], s.input_shape, s.num_classes, cfg["model_options"]).to(
            device
        )

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        stream = BatchStream.sequential(
            self.test, self.cfg["eval_batch_size"], device=device,
            num_workers=self.cfg["num_workers"],
        )  # fmt: skip
        return evaluate(model, stream, self.splits.num_classes)

    def group_kinds(self) -> tuple[str, ...]:
        kind = self.cfg["bads"]["groups"] if "bads" in self.cfg else "auto"
        if kind != "auto":
            return (kind,)
        ds = self.cfg["dataset"]
        if ds.get("domain") or ds.get("off_domain"):
            return ("domain",)
        if float(ds.get("imbalance") or 1) > 1:
            return ("imbalance",)
        return ("noise",)

    def group_masks(self) -> dict[str, np.ndarray]:
        return group_masks(self.train, self.group_kinds())

    def describe(self) -> str:
        s = self.splits
        return f"{s.name} {s.sizes()}, {s.num_classes} classes"
