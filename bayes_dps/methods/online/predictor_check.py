"""Is the predictor still better than the model? A held-out check, and the fall-back to uniform.

Eq. 16 (and RHO-LOSS) judge a label ``y`` of ``x`` partly by a second predictor ``f̃``: CLIP
zero-shot in the paper, offline a network trained on the small curated set ``D_m``. The score
favours points on which ``f̃`` believes the label and the model does not yet. That is the right
bet while ``f̃`` tells correct labels from wrong ones better than the model being trained does;
once the model is the better judge, ``f̃``'s term carries its mistakes into the selection, and a
weak ``f̃`` (a few curated points, 100 epochs on them) makes the run worse than uniform
training.

The check compares the two on data neither was fitted to:

* ``f̃``'s quality is measured once, **cross-fitted**: the curated set is split into ``K = 5``
  stratified folds; a predictor of the same settings is trained on four and scored on the
  fifth, five times. The pooled out-of-fold accuracy, NLL and ECE estimate how well ``f̃``
  judges labels it has not seen (slightly conservatively: each fold's model saw 80 % of the
  data; with two halves the estimate fell 6.6 points below the full predictor's on digits).
  The check covers predictors trained on ``D_m`` (the holdout model, "Proposed†"); CLIP is
  not checked.
* the model's quality is measured at every epoch's end on ``D_m`` itself, which the online
  loop never trains on (recorded for every epoch).

After each epoch of the first ``window`` share of the run (default a quarter), the check
compares the two accuracies with a one-sided two-proportion z-test, ``a_model − a_f̃ > z ·
√(a_model(1−a_model)/n + a_f̃(1−a_f̃)/n)`` with ``n = |D_m|`` and ``z = 2`` (≈ 97.7 %; the
unpaired standard error is conservative for paired measurements). When the model is clearly
the better judge, the check fires: a warning in the log and ``results.json`` names the
remedies (a bigger curated set, CLIP, a larger ``bayesian.alpha``), and with
``predictor_check.fallback: uniform`` the run selects uniformly from the next epoch on, so a
weak predictor degrades the rule to uniform training instead of below it.

Why only early: later comparisons are confounded by the selection itself — a model trained
on a good predictor's picks overtakes the predictor *because of* them (digits, 20 % noise:
the model passed the predictor's 91.5 % at epoch 18 of 60; switching to uniform there cost
2.6 points and raised the noisy picks from 0.1 % to 14 %). Why not at the first epoch only: a
model that has seen one epoch of 84 steps is still weaker than even a poor predictor
(WordNet, 260 curated glosses: 17 % against the predictor's 25 % after epoch 1, 55 % after
epoch 2).

Accuracy, not NLL, decides: the predictor's job in Eq. 16 is to tell right labels from wrong
ones, and NLL would also punish the over-confidence that a tiny curated set always gives.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from bayes_dps import distributed as dist
from bayes_dps.data.batches import BatchStream
from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.data.splits import stratified_folds
from bayes_dps.selection.base import SelectionRule
from bayes_dps.tasks.metrics import calibration, predict, predictive_quality, reliability

REMEDY = (
    "the predictor judges labels worse than the model being trained; a bigger curated set "
    "(dataset.meta_per_class), a zero-shot CLIP predictor (zero_shot.name=openclip) or a larger "
    "bayesian.alpha give it back its edge"
)


def cross_fitted_quality(
    meta: IndexedDataset,
    fit: Callable[[IndexedDataset], nn.Module],
    device: torch.device,
    folds: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """Accuracy, NLL, ECE and reliability diagram (:func:`~bayes_dps.tasks.metrics.reliability`)
    of ``fit``'s predictor on curated points it was not trained on: ``meta`` in ``folds``
    stratified folds, each scored by the model ``fit`` trains on the others."""
    fold = stratified_folds(meta.targets, folds, np.random.default_rng(seed))
    logits, labels = [], []
    for f in range(folds):
        if not (fold == f).any() or (fold == f).all():
            continue
        train = np.flatnonzero(fold != f)
        # distributed, every batch is split over the ranks: a multiple of the world size
        train = train[: len(train) - len(train) % dist.world_size()]
        held = meta.subset(np.flatnonzero(fold == f))
        fold_logits, fold_labels = predict(
            fit(meta.subset(train)), BatchStream.sequential(held, 512, device=device)
        )
        logits.append(fold_logits)
        labels.append(fold_labels)
    logits, labels = torch.cat(logits), torch.cat(labels)
    return {**calibration(logits, labels), "reliability": reliability(logits, labels)}


class PredictorCheck:
    """At every epoch's end: the model's quality on ``D_m`` beside the predictor's cross-fitted
    quality, and within the first ``window`` of the epochs the test of the module docstring;
    once the model has won it, the loop selects with ``fallback``.

    Args:
        meta: the curated set (the loop never trains on it).
        predictor_quality: :func:`cross_fitted_quality`.
        fallback: the rule to use once the check fires (``None``: warn only).
        device: where the model runs.
        log: where the warning goes.
        z: the test's threshold (module docstring).
        epochs: the run's epochs.
        window: the share of them, from the start, after which the test is taken.
    """

    def __init__(
        self,
        meta: IndexedDataset,
        predictor_quality: dict[str, float],
        fallback: SelectionRule | None,
        device: torch.device,
        log: Callable[[str], None] = print,
        z: float = 2.0,
        epochs: int = 1,
        window: float = 0.25,
    ) -> None:
        self.meta, self.predictor_quality, self.z = meta, predictor_quality, z
        #: epochs (0-based) below this one are tested
        self.last_epoch = max(1, math.ceil(window * epochs))
        self.fallback, self.device, self.log = fallback, device, log
        #: ``(epoch, winner)`` once decided: ``"model"`` (the check fired) or ``"predictor"``
        #: (the window passed without it firing)
        self.decided: tuple[int, str] | None = None

    def after_epoch(self, model: nn.Module, epoch: int) -> dict[str, Any]:
        """The epoch's record: both qualities and the decision so far."""
        stream = BatchStream.sequential(self.meta, 512, device=self.device)
        model_quality = predictive_quality(model, stream)
        if self.decided is None and epoch < self.last_epoch:
            if self.gap_in_se(model_quality["acc"]) > self.z:
                self.decided = (epoch, "model")
                self._warn(epoch, model_quality["acc"])
        elif self.decided is None:
            self.decided = (epoch, "predictor")
        return {
            "model": model_quality,
            "predictor": self.predictor_quality,
            "decided_at_epoch": None if self.decided is None else self.decided[0] + 1,
            "better_judge": None if self.decided is None else self.decided[1],
            "fired_at_epoch": self.fired_at_epoch,
        }

    def _warn(self, epoch: int, model_acc: float) -> None:
        action = (
            "selecting uniformly from the next epoch on"
            if self.fallback is not None
            else "predictor_check.fallback=none: selection goes on as configured"
        )
        self.log(
            f"warning: after epoch {epoch + 1} the model's accuracy on the curated set "
            f"({model_acc:.3f}) is above the predictor's cross-fitted accuracy "
            f"({self.predictor_quality['acc']:.3f}): {REMEDY}; {action}"
        )

    def gap_in_se(self, model_acc: float) -> float:
        """``(a_model − a_f̃) / SE`` of the module docstring's test."""
        a, b, n = model_acc, self.predictor_quality["acc"], max(len(self.meta), 1)
        se = math.sqrt((a * (1 - a) + b * (1 - b)) / n)
        return (a - b) / se if se > 0 else math.copysign(math.inf, a - b) if a != b else 0.0

    @property
    def fired_at_epoch(self) -> int | None:
        """The 1-based epoch after which the model was found the better judge."""
        return self.decided[0] + 1 if self.decided and self.decided[1] == "model" else None

    @property
    def switched(self) -> bool:
        return self.fired_at_epoch is not None and self.fallback is not None

    def state_dict(self) -> dict[str, Any]:
        return {"decided": self.decided}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decided = None if state["decided"] is None else tuple(state["decided"])
