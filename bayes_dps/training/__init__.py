"""Training loops (trainer core, online selection), metrics, checkpoints, experiments."""

from bayes_dps.models.batchnorm import frozen_running_stats
from bayes_dps.training.experiment import run_online_experiment, train_online_run
from bayes_dps.training.metrics import epochs_to_target, evaluate, mean_std
from bayes_dps.training.online import OnlineSelectionEpoch
from bayes_dps.training.optim import build_optimizer
from bayes_dps.training.runtime import resolve_device, seed_everything
from bayes_dps.training.trainer import MinibatchEpoch, Trainer, sgd_step

__all__ = [
    "MinibatchEpoch",
    "OnlineSelectionEpoch",
    "Trainer",
    "build_optimizer",
    "epochs_to_target",
    "evaluate",
    "frozen_running_stats",
    "mean_std",
    "resolve_device",
    "run_online_experiment",
    "seed_everything",
    "sgd_step",
    "train_online_run",
]
