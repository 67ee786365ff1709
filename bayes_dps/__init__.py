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

__version__ = "0.1.0"

__all__ = [
    "BayesDPSError",
    "ConfigError",
    "DataError",
    "DatasetNotFoundError",
    "NumericalError",
    "__version__",
]
