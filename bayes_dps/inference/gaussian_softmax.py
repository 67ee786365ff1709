"""Softmax of Gaussian logits without Monte Carlo: the two posterior terms of Deng et al.'s
Eq. 16 in closed form.

The last-layer KFAC posterior gives every point of a batch ``f ~ N(μ, s·C)``: ``μ`` its logits
``(n, k)``, ``s = h̃ᵀV⁻¹h̃`` one scalar per point ``(n,)``, ``C = U⁻¹`` one ``(k, k)`` matrix
for the batch. With ``p = softmax(μ)``:

**Expected log-likelihood** (second-order delta method). ``E[log softmax(f)_y] = μ_y −
E[LSE(f)]`` exactly, and with ``∇²LSE = diag(p) − ppᵀ``

    E[LSE(f)] ≈ LSE(μ) + ½ s (Σ_j p_j C_jj − pᵀCp)                                (error O(s²))

(the Gaussian's odd moments vanish, so the first neglected term is the fourth-order one).
``pᵀCp`` is one ``(n, k) @ (k, k)`` product for the batch.

**Log predictive** ``log E[softmax(f)_y]``, four approximations (:data:`LOG_PREDICTIVE`):

* ``unscented`` — the unscented transform (Julier & Uhlmann 1997): ``2r + 1`` sigma points
  ``μ``, ``μ ± √((r + κ) s) m_j`` (``m_j`` the columns of a square root of ``C``), weights
  ``κ/(r+κ)`` and ``1/(2(r+κ))``, ``κ = 1``; exact for polynomials of degree ≤ 3 in ``f``, so the
  error is ``O(s²)``. For ``k ≤ 64``, ``r = k`` and ``m_j`` are the columns of ``C``'s Cholesky
  factor; above, ``r = 64`` along the leading eigenvectors of ``C`` (shared by the batch; the
  variance left out is ignored), which keeps the cost per point flat in ``k``.
* ``mean_field`` — the mean-field approximation of Lu, Ie & Sha (2020): writing the softmax as
  ``1 / (1 + Σ_{j≠y} exp(−(f_y − f_j)))`` and replacing each logistic of a Gaussian by the
  probit-scaled logistic,
  ``E[softmax(f)_y] ≈ 1 / (1 + Σ_{j≠y} exp(−(μ_y − μ_j) / √(1 + λ₀ s (C_yy + C_jj − 2C_yj))))``,
  ``λ₀ = π/8``; error ``O(s)``.
* ``probit`` — the probit-scaled softmax ``softmax(μ / √(1 + λ₀ s diag C))_y``; error ``O(s)``.
* ``delta`` — the second-order delta method for ``E[softmax(f)_y]``:
  ``p_y (1 + ½ s [C_yy − 2(Cp)_y + 2pᵀCp − Σ_j p_j C_jj])``, clamped positive; error ``O(s²)``
  for small ``s``, poor once ``s·C`` is large (it can go negative).

All work on ``(n, k)`` tensors in the dtype of ``μ``; nothing reads back to the host.
"""

from __future__ import annotations

import math

import torch

#: the log-predictive approximations
LOG_PREDICTIVE = ("unscented", "mean_field", "probit", "delta")
#: the probit constant λ₀ (Spiegelhalter & Lauritzen 1990; MacKay 1992)
LAMBDA0 = math.pi / 8
#: κ of the unscented transform (weights κ/(r+κ) and 1/(2(r+κ)), all positive)
KAPPA = 1.0
#: the most sigma directions (above, the leading eigenvectors of C)
MAX_SIGMA_DIRECTIONS = 64


class ClassMajor:
    """The per-point quantities both posterior terms share, computed once with the classes
    first — ``μᵀ`` is ``(k, n)`` — so that every reduction over the classes runs over the
    outermost axis: ``LSE(μ)``, ``p = softmax(μ)`` and ``μ_y``."""

    def __init__(self, mean: torch.Tensor, y: torch.Tensor) -> None:
        self.mu = mean.T.contiguous()
        self.y = y
        top = self.mu.amax(0)
        e = torch.exp(self.mu - top)
        total = e.sum(0)
        self.p = e / total
        self.lse = top + torch.log(total)
        self.mu_y = self.mu.gather(0, y[None])[0]


def expected_log_softmax(
    mean: torch.Tensor,
    var_scale: torch.Tensor,
    cov: torch.Tensor,
    y: torch.Tensor,
    shared: ClassMajor | None = None,
) -> torch.Tensor:
    """``E[log softmax(f)_y]`` for ``f ~ N(μ, s·C)`` by the second-order delta method
    (module docstring; error ``O(s²)``)."""
    c = shared or ClassMajor(mean, y)
    # Σ_j p_j C_jj − pᵀCp = Σ_j p_j (C_jj − (Cp)_j)   (C symmetric: Cp is pᵀC)
    curvature = (c.p * (torch.diagonal(cov)[:, None] - cov @ c.p)).sum(0)
    return torch.addcmul(c.mu_y - c.lse, var_scale, curvature, value=-0.5)


def posterior_terms(
    mean: torch.Tensor,
    var_scale: torch.Tensor,
    cov: torch.Tensor,
    y: torch.Tensor,
    method: str = "probit",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both posterior terms of Eq. 16, ``E[log softmax(f)_y]`` and ``log E[softmax(f)_y]``,
    sharing what they can (``ClassMajor``)."""
    shared = ClassMajor(mean, y)
    ell = expected_log_softmax(mean, var_scale, cov, y, shared)
    if method == "probit":
        return ell, _probit(shared, var_scale, cov)
    return ell, log_expected_softmax(mean, var_scale, cov, y, method)


def _probit(c: ClassMajor, var_scale: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """``log softmax(μ / √(1 + λ₀ s diag C))_y``, class-major."""
    scale = torch.outer(torch.diagonal(cov), var_scale).mul_(LAMBDA0).add_(1).rsqrt_()  # (k, n)
    z = c.mu * scale
    return z.gather(0, c.y[None])[0] - _lse0(z)


def log_expected_softmax(
    mean: torch.Tensor,
    var_scale: torch.Tensor,
    cov: torch.Tensor,
    y: torch.Tensor,
    method: str = "unscented",
    sqrt_cov: torch.Tensor | None = None,
) -> torch.Tensor:
    """``log E[softmax(f)_y]`` for ``f ~ N(μ, s·C)`` (module docstring). ``sqrt_cov``: a square
    root of ``C`` (``M Mᵀ = C``) for ``unscented``, computed here when not given."""
    if method == "unscented":
        return _unscented(mean, var_scale, cov, y, sqrt_cov)
    if method == "mean_field":
        return _mean_field(mean, var_scale, cov, y)
    if method == "probit":
        return _probit(ClassMajor(mean, y), var_scale, cov)
    if method == "delta":
        return _delta(mean, var_scale, cov, y)
    raise ValueError(f"log-predictive approximation {method!r}; choose from {LOG_PREDICTIVE}")


def _mean_field(mean, var_scale, cov, y):
    """``−log Σ_j exp(−z_j)`` with ``z_j = (μ_y − μ_j)/√(1 + λ₀ var(f_y − f_j))`` (``z_y = 0``
    gives the 1 of the denominator)."""
    diag = torch.diagonal(cov)
    c_y = cov[y]  # (n, k): the rows C_y·
    var_diff = var_scale[:, None] * (diag[y][:, None] + diag[None, :] - 2 * c_y)
    mu_y = mean.gather(1, y[:, None])
    z = (mu_y - mean) / torch.sqrt(1 + LAMBDA0 * var_diff.clamp_min(0))
    return -torch.logsumexp(-z, dim=1)


def _delta(mean, var_scale, cov, y):
    p = torch.softmax(mean, dim=1)
    cp = p @ cov
    pcp, pdiag = (p * cp).sum(1), p @ torch.diagonal(cov)
    c_yy = torch.diagonal(cov)[y]
    cp_y = cp.gather(1, y[:, None])[:, 0]
    bracket = c_yy - 2 * cp_y + 2 * pcp - pdiag
    log_p = torch.log_softmax(mean, dim=1).gather(1, y[:, None])[:, 0]
    return log_p + torch.log((1 + 0.5 * var_scale * bracket).clamp_min(1e-12))


def sigma_directions(cov: torch.Tensor) -> torch.Tensor:
    """``(k, r)`` columns ``m_j`` with ``Σ_j m_j m_jᵀ ≈ C``: the Cholesky factor of ``C``
    (``r = k``, exact) for ``k ≤ 64``, else the leading ``r = 64`` eigenvectors scaled by the
    square roots of their eigenvalues."""
    k = cov.shape[0]
    if k <= MAX_SIGMA_DIRECTIONS:
        return torch.linalg.cholesky_ex(cov).L
    eigval, eigvec = torch.linalg.eigh(cov)
    top = eigval[-MAX_SIGMA_DIRECTIONS:].clamp_min(0)
    return eigvec[:, -MAX_SIGMA_DIRECTIONS:] * top.sqrt()


def _lse0(x: torch.Tensor) -> torch.Tensor:
    """``logsumexp`` over the first axis of finite values (no infinity handling: NaN/inf
    logits make NaN scores, which the training loop reports)."""
    top = x.amax(0)
    return top + torch.log(torch.exp(x - top).sum(0))


def _unscented(mean, var_scale, cov, y, sqrt_cov=None):
    """``log Σ_i w_i softmax(f_i)_y`` over the ``2r + 1`` sigma points, laid out class-major,
    ``(k, 2r + 1, n)``, so that both reductions — the softmax's over the classes, the weighted
    sum over the points — run over the outermost axis (several times faster than over a last
    axis of ``k`` entries)."""
    m = sigma_directions(cov) if sqrt_cov is None else sqrt_cov  # (k, r)
    k, r = m.shape
    directions = torch.cat([m.new_zeros(k, 1), m, -m], dim=1)  # (k, 2r + 1): 0, +m_j, −m_j
    spread = torch.sqrt((r + KAPPA) * var_scale)  # (n,)
    centre = mean.T.contiguous()[:, None, :]  # (k, 1, n)
    points = torch.addcmul(centre, directions[:, :, None], spread)  # (k, 2r + 1, n)
    f_y = points.gather(0, y.expand(1, points.shape[1], -1))[0]  # (2r + 1, n)
    logp_y = f_y - _lse0(points)
    log_w = torch.full((points.shape[1], 1), -math.log(2 * (r + KAPPA)), dtype=mean.dtype,
                       device=mean.device)  # fmt: skip
    log_w[0] = math.log(KAPPA / (r + KAPPA))
    return _lse0(logp_y + log_w)
