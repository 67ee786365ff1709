"""Online selection rules (one interface) and, with their issue, zero-shot predictors."""

from bayes_dps.selection.base import BigBatch, Selection, SelectionRule
from bayes_dps.selection.registry import RULES, build_rule
from bayes_dps.selection.uniform import UniformSelection

__all__ = ["RULES", "BigBatch", "Selection", "SelectionRule", "UniformSelection", "build_rule"]
