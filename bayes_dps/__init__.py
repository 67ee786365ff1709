"""bayes-dps: Bayesian data point selection for PyTorch.

Layers import only downwards: ``data`` → ``models`` → ``inference`` → ``selection`` →
``training`` → ``diagnostics`` → ``cli``.
"""

from bayes_dps.errors import (
    BayesDPSError,
    ConfigError,
    DataError,
    DatasetNotFoundError,
    NumericalError,
)

__version__ = "0.2.0"

#: the library-in-your-own-loop API, imported on first use (``import bayes_dps`` stays light)
_LAZY = {
    "OnlineSelector": "bayes_dps.training.selector",
    "BADSSampler": "bayes_dps.inference.bads_sampler",
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
