"""BADS (Xu et al. 2024) as an experiment: the sampling loop, the paper's baselines (the data
baselines, CDS, the L2RW bi-level baseline), the method registry and the runner over methods
and seeds. The sampler itself is the library API (``bayes_dps.inference.bads``)."""

from bayes_dps.methods.bads.experiment import run_bads_experiment, train_bads_run
from bayes_dps.methods.bads.registry import BADS_METHODS, METHODS, WEIGHT_METHODS

__all__ = ["BADS_METHODS", "METHODS", "WEIGHT_METHODS", "run_bads_experiment", "train_bads_run"]
