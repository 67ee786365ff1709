"""SG-MCMC algorithms, each written once in the ``init`` / ``update`` shape (``base``), and
their Pyro ``MCMCKernel`` adapter.

``ALGORITHMS`` names the gradient-based ones (``bads.kernel``); ``gibbs`` in a BADS config is
the exact draw for ``w`` (:class:`GibbsTruncatedNormal`) with SGLD for the gradient blocks.
"""

from bayes_dps.inference.sgmcmc.base import SGMCMC, GradFn, Params, SGMCMCState, standard_normal
from bayes_dps.inference.sgmcmc.gibbs import GibbsTruncatedNormal, weight_conditional
from bayes_dps.inference.sgmcmc.psgld import PSGLD, psgld_update
from bayes_dps.inference.sgmcmc.pyro_kernel import GibbsWeightsKernel, SGMCMCKernel
from bayes_dps.inference.sgmcmc.sghmc import SGHMC, sghmc_update
from bayes_dps.inference.sgmcmc.sgld import SGLD, sgld_update

#: the gradient-based algorithms by name
ALGORITHMS: dict[str, type[SGMCMC]] = {"sgld": SGLD, "psgld": PSGLD, "sghmc": SGHMC}
#: ``bads.kernel`` choices: an algorithm for every block, or ``gibbs`` (exact w, SGLD for θ)
KERNELS = (*ALGORITHMS, "gibbs")

__all__ = [
    "ALGORITHMS",
    "KERNELS",
    "PSGLD",
    "SGHMC",
    "SGLD",
    "SGMCMC",
    "GibbsTruncatedNormal",
    "GibbsWeightsKernel",
    "GradFn",
    "Params",
    "SGMCMCKernel",
    "SGMCMCState",
    "psgld_update",
    "sghmc_update",
    "sgld_update",
    "standard_normal",
    "weight_conditional",
]
