"""Inference: the online KFAC Laplace posterior (online selection), SG-MCMC algorithms and
their Pyro adapter, and the BADS sampler built on them."""

from bayes_dps.inference.bads import BADSSampler, BADSSettings, default_weight_net
from bayes_dps.inference.cholesky import safe_cholesky
from bayes_dps.inference.kfac_laplace import LastLayerKFACLaplace, with_bias
from bayes_dps.inference.kron_predictive import KronPredictive
from bayes_dps.inference.sgmcmc import (
    ALGORITHMS,
    KERNELS,
    PSGLD,
    SGHMC,
    SGLD,
    SGMCMC,
    GibbsTruncatedNormal,
    GibbsWeightsKernel,
    SGMCMCKernel,
    SGMCMCState,
    psgld_update,
    sghmc_update,
    sgld_update,
    weight_conditional,
)

__all__ = [
    "ALGORITHMS",
    "KERNELS",
    "PSGLD",
    "SGHMC",
    "SGLD",
    "SGMCMC",
    "BADSSampler",
    "BADSSettings",
    "GibbsTruncatedNormal",
    "GibbsWeightsKernel",
    "KronPredictive",
    "LastLayerKFACLaplace",
    "SGMCMCKernel",
    "SGMCMCState",
    "default_weight_net",
    "psgld_update",
    "safe_cholesky",
    "sghmc_update",
    "sgld_update",
    "weight_conditional",
    "with_bias",
]
