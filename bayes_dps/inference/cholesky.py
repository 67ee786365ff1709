"""Cholesky factorisation that retries with growing jitter instead of returning garbage."""

from __future__ import annotations

import warnings

import torch

from bayes_dps.errors import NumericalError


def check_finite(matrix: torch.Tensor, name: str = "matrix") -> None:
    """Raise :class:`NumericalError` if ``matrix`` holds NaN or inf (one host sync)."""
    if not torch.isfinite(matrix).all():
        raise NumericalError(f"{name} contains NaN or inf; cannot factorise it")


def safe_cholesky(
    matrix: torch.Tensor, *, jitter: float = 1e-6, max_tries: int = 8, name: str = "matrix"
) -> torch.Tensor:
    """Lower Cholesky factor of a symmetric positive-definite ``matrix``.

    On failure, adds ``jitter · mean(diag) · 10^i`` to the diagonal for ``i = 0, 1, …`` and warns
    with the jitter that worked; raises :class:`NumericalError` after ``max_tries`` or if the
    matrix holds NaN/inf.
    """
    check_finite(matrix, name)
    factor, info = torch.linalg.cholesky_ex(matrix)
    if int(info.max()) == 0:
        return factor
    scale = matrix.diagonal(dim1=-2, dim2=-1).abs().mean().clamp_min(1e-12)
    eye = torch.eye(matrix.shape[-1], dtype=matrix.dtype, device=matrix.device)
    for i in range(max_tries):
        added = jitter * float(scale) * 10**i
        factor, info = torch.linalg.cholesky_ex(matrix + added * eye)
        if int(info.max()) == 0:
            warnings.warn(
                f"{name} was not positive definite; added {added:.3g} to its diagonal",
                RuntimeWarning,
                stacklevel=2,
            )
            return factor
    raise NumericalError(
        f"{name} is not positive definite even with {added:.3g} added to its diagonal"
    )
