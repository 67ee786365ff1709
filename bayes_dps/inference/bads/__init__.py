"""BADS for networks: the sampler and its moves (``θ``, the normaliser's auxiliary chain
``θ'``, the weights ``w`` or the weight network's ``φ``), and its settings."""

from bayes_dps.inference.bads.normaliser import AuxiliaryChain
from bayes_dps.inference.bads.sampler import BADSSampler, StepPoint
from bayes_dps.inference.bads.settings import BADSSettings
from bayes_dps.inference.bads.theta import ThetaMove
from bayes_dps.inference.bads.weights import (
    GibbsWeights,
    LangevinWeights,
    WeightNetwork,
    default_weight_net,
)

__all__ = [
    "AuxiliaryChain",
    "BADSSampler",
    "BADSSettings",
    "GibbsWeights",
    "LangevinWeights",
    "StepPoint",
    "ThetaMove",
    "WeightNetwork",
    "default_weight_net",
]
