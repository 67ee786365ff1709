"""bayes-dps: Bayesian data point selection for PyTorch.

Layers import only downwards: ``data`` → ``models`` → ``inference`` → ``selection`` →
``training`` → ``tasks`` → ``runs`` → ``methods`` → ``config`` → ``diagnostics`` → ``cli``
(``docs/architecture.md``).
"""

from bayes_dps._moved import install as _install_moved_paths
from bayes_dps.errors import (
    BayesDPSError,
    ConfigError,
    DataError,
    DatasetNotFoundError,
    NumericalError,
)

__version__ = "0.3.0"
_install_moved_paths()

#: the library-in-your-own-loop API, imported on first use (``import bayes_dps`` stays light)
_LAZY = {
    "OnlineSelector": "bayes_dps.selection.selector",
    "BADSSampler": "bayes_dps.inference.bads.sampler",
    "BADSSettings": "bayes_dps.inference.bads.settings",
    "BayesianSettings": "bayes_dps.selection.bayesian",
    "ModelPredictor": "bayes_dps.selection.predictors.base",
    "OpenCLIPZeroShot": "bayes_dps.selection.predictors.openclip",
    "truncated_normal": "bayes_dps.models.priors",
    "build_weight_prior": "bayes_dps.models.priors",
    "weights_to_inference_data": "bayes_dps.inference.inference_data",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bayes_dps' has no attribute {name!r}")


__all__ = [
    *_LAZY,
    "BayesDPSError",
    "ConfigError",
    "DataError",
    "DatasetNotFoundError",
    "NumericalError",
    "__version__",
]
