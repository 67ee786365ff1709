"""The predictive ``q(f_x) = N(μ_x, s_x · U⁻¹)`` of a batch under the last-layer KFAC posterior
(Deng et al. Eq. 15), and the posterior terms of Eq. 16 from it — by Monte Carlo, or in closed
form (``gaussian_softmax``).

``μ``: ``(n, k)`` logits ``f_θ(x)``; ``s``: ``(n,)`` values ``s_x = h̃_xᵀV⁻¹h̃_x``; ``cov``:
``(k, k)`` ``C = U⁻¹``, shared by the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from bayes_dps.inference.cholesky import safe_cholesky
from bayes_dps.inference.gaussian_softmax import (
    expected_log_softmax,
    log_expected_softmax,
    posterior_terms,
)


@dataclass
class KronPredictive:
    """``q(f_x) = N(mean_x, var_scale_x · cov)`` for a batch (module docstring). ``check``:
    factorise ``cov`` with the jitter-retrying (host-syncing) Cholesky when sampling."""

    mean: torch.Tensor
    var_scale: torch.Tensor
    cov: torch.Tensor
    check: bool = True
    _scale_tril: torch.Tensor | None = field(default=None, repr=False)

    @property
    def scale_tril(self) -> torch.Tensor:
        """``(k, k)`` lower-triangular ``L`` with ``L Lᵀ = U⁻¹`` (computed once)."""
        if self._scale_tril is None:
            self._scale_tril = (
                safe_cholesky(self.cov, name="U⁻¹")
                if self.check
                else torch.linalg.cholesky_ex(self.cov).L
            )
        return self._scale_tril

    def covariance(self) -> torch.Tensor:
        """``(n, k, k)``: ``s_x · U⁻¹`` per point."""
        return self.var_scale[:, None, None] * self.cov

    # ------------------------------------------------------------- Monte Carlo
    def sample(self, num_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(S, n, k)`` independent draws ``f_x^(s) = mean_x + √s_x · L ε_x^(s)`` (one matrix
        product over all ``S·n`` draws).

        The draws are laid out class-major — ``ε`` is ``(k, S·n)``, ``L ε`` one ``(k × k) @
        (k × S·n)`` product, the result a ``(k, S, n)`` tensor returned as its ``(S, n, k)``
        view — because reductions over the ``k`` classes (log-softmax in Eq. 16) then run
        over the outermost, contiguous axis: 1.5× faster than the row-major layout for a
        digits MLP's ``S = 100, n = 320, k = 10`` on one CPU thread.

        (Drawing one ``ε^(s)`` for the whole batch instead — common random numbers, ``S·k``
        normals — halves the scoring time but was measured to slow learning on noisy digits
        (27 instead of 9 epochs to 90%): errors shared by points of different labels bias the
        ranking class by class. The draws stay independent.)"""
        n, k = self.mean.shape
        eps = torch.randn(
            (k, num_samples * n), generator=generator, device=self.mean.device,
            dtype=self.mean.dtype,
        )  # fmt: skip
        correlated = (self.scale_tril @ eps).view(k, num_samples, n)
        draws = torch.addcmul(self.mean.T[:, None, :], self.var_scale.sqrt(), correlated)
        return draws.permute(1, 2, 0)

    # ------------------------------------------------------------- closed form
    def expected_log_likelihood(self, y: torch.Tensor) -> torch.Tensor:
        """``E_q[log softmax(f_x)_y]`` per point (delta method, error ``O(s²)``)."""
        return expected_log_softmax(self.mean, self.var_scale, self.cov, y)

    def log_predictive(self, y: torch.Tensor, method: str = "probit") -> torch.Tensor:
        """``log E_q[softmax(f_x)_y]`` per point (``probit``, ``unscented``, ``mean_field`` or
        ``delta``; see ``gaussian_softmax``)."""
        return log_expected_softmax(self.mean, self.var_scale, self.cov, y, method)

    def terms(self, y: torch.Tensor, method: str = "probit") -> tuple[torch.Tensor, torch.Tensor]:
        """Both: :meth:`expected_log_likelihood` and :meth:`log_predictive`, computed
        together."""
        return posterior_terms(self.mean, self.var_scale, self.cov, y, method)
