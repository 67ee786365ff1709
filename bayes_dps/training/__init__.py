"""The trainer core every method shares: the optimiser step, epochs (plain minibatch or an
epoch step of a method), evaluation callbacks, checkpoints and exact resume, optimisers,
mixed precision, devices and seeding. The methods' own loops live in ``bayes_dps.methods``."""

from bayes_dps._moved import moved_attribute
from bayes_dps.training.checkpoint import load_checkpoint, save_checkpoint
from bayes_dps.training.devices import resolve_device
from bayes_dps.training.epoch import MinibatchEpoch
from bayes_dps.training.fit import fit_classifier
from bayes_dps.training.optim import build_optimizer
from bayes_dps.training.precision import autocast_for
from bayes_dps.training.profile import PhaseTimer
from bayes_dps.training.seeding import seed_everything
from bayes_dps.training.step import sgd_step
from bayes_dps.training.trainer import EpochStep, Trainer

__all__ = [
    "EpochStep",
    "MinibatchEpoch",
    "PhaseTimer",
    "Trainer",
    "autocast_for",
    "build_optimizer",
    "fit_classifier",
    "load_checkpoint",
    "resolve_device",
    "save_checkpoint",
    "seed_everything",
    "sgd_step",
]


def __getattr__(name: str):
    """Names this package held in 0.2 (deprecated; see ``bayes_dps._moved``)."""
    return moved_attribute(__name__, name)
