"""Online selection: the rules (one interface), the zero-shot / validation predictors, and
:class:`OnlineSelector`, the library API that puts them in any training loop."""

from bayes_dps.selection.base import BigBatch, Selection, SelectionRule
from bayes_dps.selection.bayesian import BayesianSelection, BayesianSettings, bayesian_scores
from bayes_dps.selection.grad_norm import GradNormISSelection, GradNormSelection
from bayes_dps.selection.loss_based import (
    IrreducibleLossSelection,
    RhoLossSelection,
    TrainLossSelection,
)
from bayes_dps.selection.registry import RULES, build_rule, predictor_for
from bayes_dps.selection.scored import ScoredSelection
from bayes_dps.selection.selector import OnlineSelector
from bayes_dps.selection.svp import SVPSelection
from bayes_dps.selection.uniform import UniformSelection

__all__ = [
    "RULES",
    "BayesianSelection",
    "BayesianSettings",
    "BigBatch",
    "GradNormISSelection",
    "GradNormSelection",
    "IrreducibleLossSelection",
    "OnlineSelector",
    "RhoLossSelection",
    "SVPSelection",
    "ScoredSelection",
    "Selection",
    "SelectionRule",
    "TrainLossSelection",
    "UniformSelection",
    "bayesian_scores",
    "build_rule",
    "predictor_for",
]
