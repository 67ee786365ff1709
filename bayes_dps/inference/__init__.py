"""Inference: online KFAC Laplace posteriors and the SG-MCMC kernels of BADS."""

from bayes_dps.inference.cholesky import safe_cholesky
from bayes_dps.inference.gibbs_weights import GibbsWeights, weight_conditional
from bayes_dps.inference.kfac_laplace import KronPredictive, LastLayerKFACLaplace, with_bias
from bayes_dps.inference.psgld import PSGLD, psgld_update
from bayes_dps.inference.sghmc import SGHMC, sghmc_update
from bayes_dps.inference.sgld import SGLD, sgld_update
from bayes_dps.inference.sgmcmc_kernel import SGMCMCKernel

__all__ = [
    "PSGLD",
    "SGHMC",
    "SGLD",
    "GibbsWeights",
    "KronPredictive",
    "LastLayerKFACLaplace",
    "SGMCMCKernel",
    "psgld_update",
    "safe_cholesky",
    "sghmc_update",
    "sgld_update",
    "weight_conditional",
    "with_bias",
]
