"""Last-layer KFAC online Laplace approximation (Deng et al. 2023, Eqs. 13–15).

Split the network into features ``h_θ(x) ∈ R^d`` and a linear head ``θ^(l) ∈ R^{d̃×k}``
(``d̃ = d + 1``: the bias is the weight of a constant feature 1). After every training step on
the selected batch ``b_t`` two Kronecker factors are refreshed by an exponential moving
average (Eq. 14 with the EMA of Algorithm 1, line 9; the first update copies):

    A ← m·A + (1−m) · mean_i h̃_i h̃_iᵀ                       (d̃ × d̃)
    G ← m·G + (1−m) · mean_i g_i g_iᵀ,  g_i = softmax(f_i) − onehot(y_i)   (k × k)

With ``n_e`` effective data points and prior precision ``τ0`` (Algorithm 1, line 5; Eq. 13):

    V = √n_e · A + √τ0 · I,   U = √n_e · G + √τ0 · I,   G^(l) ≈ V ⊗ U
    q(θ^(l)) = MN(θ^(l)_{t−1}, U⁻¹, V⁻¹)
    q(f_x)   = N( f_θ(x), (h̃_xᵀ V⁻¹ h̃_x) · U⁻¹ )              (Eq. 15)

One Cholesky of ``V`` and one of ``U`` per step serve the whole batch: ``h̃ᵀV⁻¹h̃ = ‖L_V⁻¹h̃‖²``
(one batched triangular solve) and ``f^(s) = f + √(h̃ᵀV⁻¹h̃) · ε^(s) Cᵀ`` with ``CCᵀ = U⁻¹``.
Before the first update ``A = G = 0`` and the posterior is the prior ``N(θ, τ0⁻¹ I)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bayes_dps.checks import Float, Settings, setting
from bayes_dps.inference.cholesky import safe_cholesky


@dataclass(frozen=True)
class LaplaceSettings(Settings):
    """The posterior's hyper-parameters (Eq. 13; Algorithm 1)."""

    section = "bayesian"

    n_e: float = setting(500.0, Float(0, 1e12, low_open=True), "effective data `n_e` of Eq. 13")
    tau0: float = setting(1.0, Float(0, 1e12, low_open=True), "prior precision `τ0` of Eq. 13")
    momentum: float = setting(
        0.95, Float(0, 1, high_open=True), "EMA coefficient of the KFAC factors `A`, `G`"
    )


def with_bias(features: torch.Tensor) -> torch.Tensor:
    """``h̃ = [h, 1]``: the head's bias as the weight of a constant feature."""
    return torch.cat([features, features.new_ones(len(features), 1)], dim=1)


@dataclass
class KronPredictive:
    """``q(f_x) = N(mean_x, s_x · U⁻¹)`` for a batch (Eq. 15).

    ``mean``: ``(n, k)`` logits ``f_θ(x)``; ``var_scale``: ``(n,)`` values ``s_x = h̃_xᵀV⁻¹h̃_x``;
    ``scale_tril``: ``(k, k)`` lower-triangular ``C`` with ``CCᵀ = U⁻¹``.
    """

    mean: torch.Tensor
    var_scale: torch.Tensor
    scale_tril: torch.Tensor

    def covariance(self) -> torch.Tensor:
        """``(n, k, k)``: ``s_x · U⁻¹`` per point."""
        u_inv = self.scale_tril @ self.scale_tril.T
        return self.var_scale[:, None, None] * u_inv

    def sample(self, num_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(S, n, k)`` independent draws ``f_x^(s) = mean_x + √s_x · C ε_x^(s)`` (one matrix
        product over all ``S·n`` draws).

        The draws are laid out class-major — ``ε`` is ``(k, S·n)``, ``C ε`` one ``(k × k) @
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


class LastLayerKFACLaplace:
    """Online last-layer KFAC Laplace posterior over a linear head (Eqs. 13–15).

    Args:
        feature_dim: ``d`` (without the bias feature).
        num_classes: ``k``.
        n_e: number of effective data (replaces ``|D_{t−1}|`` in Eq. 13).
        tau0: prior precision ``τ0``.
        momentum: EMA coefficient ``m`` of the factors.
    """

    def __init__(
        self,
        feature_dim: int,
        num_classes: int,
        *,
        n_e: float = LaplaceSettings.n_e,
        tau0: float = LaplaceSettings.tau0,
        momentum: float = LaplaceSettings.momentum,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        checked = LaplaceSettings(n_e=n_e, tau0=tau0, momentum=momentum)
        self.n_e, self.tau0, self.momentum = checked.n_e, checked.tau0, checked.momentum
        d = feature_dim + 1
        self.A = torch.zeros(d, d, device=device, dtype=dtype)
        self.G = torch.zeros(num_classes, num_classes, device=device, dtype=dtype)
        self.num_updates = 0
        self._cache: tuple | None = None

    # ----------------------------------------------------------------- fitting
    @torch.no_grad()
    def update(self, features: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """EMA update of ``A`` and ``G`` from the selected batch (Eq. 14, Alg. 1 line 9)."""
        h = with_bias(features.to(self.A.dtype))
        g = torch.softmax(logits.to(self.G.dtype), dim=1)
        g[torch.arange(len(y), device=g.device), y] -= 1.0
        a_new = h.T @ h / len(h)
        g_new = g.T @ g / len(g)
        if self.num_updates == 0:
            self.A.copy_(a_new)
            self.G.copy_(g_new)
        else:
            self.A.mul_(self.momentum).add_(a_new, alpha=1 - self.momentum)
            self.G.mul_(self.momentum).add_(g_new, alpha=1 - self.momentum)
        self.num_updates += 1

    # --------------------------------------------------------------- posterior
    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(V, U)`` of Eq. 13 with ``n_e`` for ``|D_{t−1}|``."""
        s_n, s_t = math.sqrt(self.n_e), math.sqrt(self.tau0)
        eye_v = torch.eye(len(self.A), device=self.A.device, dtype=self.A.dtype)
        eye_u = torch.eye(len(self.G), device=self.G.device, dtype=self.G.dtype)
        return s_n * self.A + s_t * eye_v, s_n * self.G + s_t * eye_u

    @torch.no_grad()
    def factorisation(self, check: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``(V⁻¹, C)`` with ``CCᵀ = U⁻¹`` (``C`` lower triangular), computed once per update
        of the factors (cached until the next :meth:`update`).

        ``V`` and ``U`` are positive definite by construction (a PSD average plus ``√τ0 I``),
        so their Cholesky factorisations succeed unless the factors hold NaN/inf. With
        ``check`` that is verified (and a failing factorisation retried with jitter, which
        reads back to the host); without, NaN factors make the scores NaN, which the training
        loop catches as a non-finite loss at the end of the epoch."""
        key = (self.num_updates, check)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        V, U = self.factors()
        if check:
            L_v = safe_cholesky(V, name="V (KFAC feature factor)")
            L_u = safe_cholesky(U, name="U (KFAC output factor)")
            C = safe_cholesky(torch.cholesky_inverse(L_u), name="U⁻¹")
        else:
            L_v = torch.linalg.cholesky_ex(V).L
            C = torch.linalg.cholesky_ex(torch.cholesky_inverse(torch.linalg.cholesky_ex(U).L)).L
        out = (torch.cholesky_inverse(L_v), C)
        self._cache = (key, out)
        return out

    @torch.no_grad()
    def predictive(
        self, features: torch.Tensor, mean_logits: torch.Tensor, check: bool = True
    ) -> KronPredictive:
        """``q(f_x)`` for a batch (Eq. 15): ``s_x = h̃_xᵀ V⁻¹ h̃_x`` for every point in one
        matrix product, with the factorisations of :meth:`factorisation`."""
        v_inv, C = self.factorisation(check)
        h = with_bias(features.to(v_inv.dtype))
        var_scale = ((h @ v_inv) * h).sum(1).clamp_min(0)
        return KronPredictive(mean_logits.to(v_inv.dtype), var_scale, C)

    # --------------------------------------------------------------- checkpoint
    def state_dict(self) -> dict:
        return {"A": self.A.clone(), "G": self.G.clone(), "num_updates": self.num_updates}

    def load_state_dict(self, state: dict) -> None:
        self.A.copy_(state["A"])
        self.G.copy_(state["G"])
        self.num_updates = int(state["num_updates"])
        self._cache = None
