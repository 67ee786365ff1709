"""Zero-shot and validation predictors ``f̃``: one interface (class logits for a batch)."""

from bayes_dps.selection.predictors.base import ModelPredictor, Predictor, check_finite_logits
from bayes_dps.selection.predictors.cached import CachedLogits, compute_logit_table
from bayes_dps.selection.predictors.openclip import CIFAR_TEMPLATES, OpenCLIPZeroShot

__all__ = [
    "CIFAR_TEMPLATES",
    "CachedLogits",
    "ModelPredictor",
    "OpenCLIPZeroShot",
    "Predictor",
    "check_finite_logits",
    "compute_logit_table",
]
