"""Inference: online KFAC Laplace posteriors (and, with BADS, the SGLD family of kernels)."""

from bayes_dps.inference.cholesky import safe_cholesky
from bayes_dps.inference.kfac_laplace import KronPredictive, LastLayerKFACLaplace, with_bias

__all__ = ["KronPredictive", "LastLayerKFACLaplace", "safe_cholesky", "with_bias"]
