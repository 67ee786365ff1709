"""Filters an online method applies to ``D_t`` before training (``selection.registry``'s
``data_filter``): ``confident_learning`` — the ``cleanlab`` baseline, confident learning's
flagged labels dropped, then uniform selection on the rest."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from bayes_dps.data.splits import DataSplits
from bayes_dps.methods.confident_learning import find_label_issues
from bayes_dps.training.fit import fit_classifier


def confident_learning_split(
    cfg: dict[str, Any], splits: DataSplits, seed: int, device: torch.device
) -> tuple[DataSplits, dict[str, int]]:
    """``splits`` with ``train`` cut to the points confident learning keeps: ``cleanlab.folds``
    networks of the run's model family, each trained ``cleanlab.steps`` AdamW steps (rounded up
    to whole epochs) with the run's optimiser settings on the other folds; and what it
    dropped (``train``, ``flagged``, ``flagged_noisy``: of them, the truly mislabelled)."""
    c, opt = cfg["cleanlab"], cfg["optimizer"]
    limit = min(c["steps"], cfg.get("step_limit") or c["steps"])

    def fit(data, fold: int):
        spec = {
            "epochs": 10**9,  # bounded by the step limit
            "batch_size": c["batch_size"],
            "lr": opt["lr"],
            "weight_decay": opt.get("weight_decay", 0.01),
            "seed": seed * 1000 + fold,
        }
        return fit_classifier(
            data, spec, model_name=cfg["model"], model_options=cfg["model_options"],
            device=device, num_workers=cfg["num_workers"], step_limit=limit,
        )  # fmt: skip

    found = find_label_issues(
        splits.train, fit, folds=c["folds"], filter_by=c["filter_by"], seed=seed, device=device
    )
    kept = splits.train.subset(found.keep)
    stats = {
        "train": len(found.issues),
        "flagged": int(found.issues.sum()),
        "flagged_noisy": int((found.issues & splits.train.is_noisy).sum()),
    }
    note = (
        f"cleanlab (seed {seed}): {stats['flagged']} of {stats['train']} training labels "
        f"flagged and dropped ({stats['flagged_noisy']} of them truly noisy)"
    )
    return dataclasses.replace(splits, train=kept, notes=[*splits.notes, note]), stats


DATA_FILTERS = {"confident_learning": confident_learning_split}
