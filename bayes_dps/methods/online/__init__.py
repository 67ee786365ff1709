"""Online Bayesian batch selection (Deng et al. 2023) as an experiment: the select-then-train
epoch, the predictors its rules need (holdout model, zero-shot, SVP proxy), and the runner
over methods and seeds. The rules and :class:`~bayes_dps.selection.OnlineSelector` are the
library API (``bayes_dps.selection``)."""

from bayes_dps.methods.online.experiment import run_online_experiment, train_online_run
from bayes_dps.methods.online.loop import OnlineSelectionEpoch
from bayes_dps.methods.online.predictor_factory import ZERO_SHOT_KINDS, PredictorFactory

__all__ = [
    "ZERO_SHOT_KINDS",
    "OnlineSelectionEpoch",
    "PredictorFactory",
    "run_online_experiment",
    "train_online_run",
]
