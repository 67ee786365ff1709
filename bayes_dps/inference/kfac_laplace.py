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

One Cholesky factorisation of ``V`` and one of ``U`` per update of the factors serve the
whole batch, computed when the next scoring needs them (and cached until the factors change):
``s_x = h̃ᵀV⁻¹h̃ = ‖L_V⁻¹h̃‖²`` by one batched triangular solve, and ``U⁻¹`` from ``U``'s factor.
The predictive (``kron_predictive.KronPredictive``) then gives Eq. 16's posterior terms in
closed form or by Monte Carlo. Before the first update ``A = G = 0`` and the posterior is the
prior ``N(θ, τ0⁻¹ I)``.

**Low-rank variance** (``variance_rank = r > 0``): ``s_x`` from ``V``'s ``r`` leading
eigenpairs, the other eigenvalues replaced by their mean (``feature_variance``): ``O(n d̃ r)``
per batch instead of the triangular solve's ``O(n d̃²)``; exact when the features' second
moment has rank ≤ ``r``.

**Amortised refresh** (``refresh_every = m > 1``): the factorisation is redone only when it is
``m`` updates old (and at the first update after the prior), so between refreshes the scores
use ``V``, ``U`` of up to ``m − 1`` steps before — the posterior of ``θ^(l)`` lags by that
many selected batches, while the mean ``f_θ(x)`` is always current. ``A`` and ``G`` are still
updated every step, so a refresh is the exact posterior of that step. (A rank-``b`` update of
the previous factor cannot be exact here: the EMA also shrinks the prior term,
``V_t = m·V_{t−1} + (1−m)(√n_e S_t + √τ0 I)``, a full-rank change.) ``m = 1`` is the exact
method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bayes_dps.checks import Float, Int, Settings, setting
from bayes_dps.errors import ConfigError
from bayes_dps.inference.cholesky import check_finite, safe_cholesky
from bayes_dps.inference.feature_variance import CholeskyVariance, LowRankVariance, SolveBuffers
from bayes_dps.inference.kron_predictive import KronPredictive


@dataclass(frozen=True)
class LaplaceSettings(Settings):
    """The posterior's hyper-parameters (Eq. 13; Algorithm 1)."""

    section = "bayesian"

    n_e: float = setting(500.0, Float(0, 1e12, low_open=True), "effective data `n_e` of Eq. 13")
    tau0: float = setting(1.0, Float(0, 1e12, low_open=True), "prior precision `τ0` of Eq. 13")
    momentum: float = setting(
        0.95, Float(0, 1, high_open=True), "EMA coefficient of the KFAC factors `A`, `G`"
    )
    refresh_every: int = setting(
        1,
        Int(1, 1_000_000),
        "factorise `V` and `U` every `m`-th update of `A`, `G` (1: every step, exact); between "
        "refreshes the scores use the last factorisation",
    )
    variance_rank: int = setting(
        0,
        Int(0, 1_000_000),
        "0: `s_x = h̃ᵀV⁻¹h̃` exactly (a triangular solve); `r > 0`: from `V`'s `r` leading "
        "eigenpairs, the other eigenvalues at their mean (exact when the features span ≤ `r` "
        "directions)",
    )


def with_bias(features: torch.Tensor) -> torch.Tensor:
    """``h̃ = [h, 1]``: the head's bias as the weight of a constant feature."""
    return torch.cat([features, features.new_ones(len(features), 1)], dim=1)


class LastLayerKFACLaplace:
    """Online last-layer KFAC Laplace posterior over a linear head (Eqs. 13–15).

    Args:
        feature_dim: ``d`` (without the bias feature).
        num_classes: ``k``.
        n_e: number of effective data (replaces ``|D_{t−1}|`` in Eq. 13).
        tau0: prior precision ``τ0``.
        momentum: EMA coefficient ``m`` of the factors.
        refresh_every: factorise ``V``, ``U`` every this many updates (module docstring).
        variance_rank: ``s_x`` exactly (0) or from ``V``'s leading eigenpairs
            (``feature_variance.LowRankVariance``); below ``d̃ = feature_dim + 1``.
    """

    def __init__(
        self,
        feature_dim: int,
        num_classes: int,
        *,
        n_e: float = LaplaceSettings.n_e,
        tau0: float = LaplaceSettings.tau0,
        momentum: float = LaplaceSettings.momentum,
        refresh_every: int = LaplaceSettings.refresh_every,
        variance_rank: int = LaplaceSettings.variance_rank,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        checked = LaplaceSettings(
            n_e=n_e, tau0=tau0, momentum=momentum, refresh_every=refresh_every,
            variance_rank=variance_rank,
        )  # fmt: skip
        self.n_e, self.tau0, self.momentum = checked.n_e, checked.tau0, checked.momentum
        self.refresh_every, self.variance_rank = checked.refresh_every, checked.variance_rank
        d = feature_dim + 1
        if self.variance_rank >= d:
            raise ConfigError(
                f"bayesian.variance_rank={self.variance_rank} must be below d̃ = feature_dim + 1"
                f" = {d}; use 0 for the exact variance"
            )
        self.A = torch.zeros(d, d, device=device, dtype=dtype)
        self.G = torch.zeros(num_classes, num_classes, device=device, dtype=dtype)
        self._buffers_solve = SolveBuffers(dtype, device)
        #: V and U, rewritten in place every step
        self._buffers = {"V": torch.empty_like(self.A), "U": torch.empty_like(self.G)}
        self.num_updates = 0
        self._cache: tuple | None = None

    # ----------------------------------------------------------------- fitting
    @torch.no_grad()
    def update(self, features: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """EMA update of ``A`` and ``G`` from the selected batch (Eq. 14, Alg. 1 line 9)."""
        h = with_bias(features.to(self.A.dtype))
        g = torch.softmax(logits.to(self.G.dtype), dim=1)
        g[torch.arange(len(y), device=g.device), y] -= 1.0
        # A ← m·A + (1−m)/b · h̃ᵀh̃ in one product, in place (m = 0: the first update copies)
        m = self.momentum if self.num_updates else 0.0
        torch.addmm(self.A, h.T, h, beta=m, alpha=(1 - m) / len(h), out=self.A)
        torch.addmm(self.G, g.T, g, beta=m, alpha=(1 - m) / len(g), out=self.G)
        self.num_updates += 1

    # --------------------------------------------------------------- posterior
    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(V, U)`` of Eq. 13 with ``n_e`` for ``|D_{t−1}|``."""
        s_n, s_t = math.sqrt(self.n_e), math.sqrt(self.tau0)
        V = torch.mul(self.A, s_n, out=self._buffers["V"])
        U = torch.mul(self.G, s_n, out=self._buffers["U"])
        V.diagonal().add_(s_t)
        U.diagonal().add_(s_t)
        return V, U

    @torch.no_grad()
    def factorisation(
        self, check: bool = True
    ) -> tuple[CholeskyVariance | LowRankVariance, torch.Tensor]:
        """``(variance, U⁻¹)``: ``V``'s factorisation for ``s_x`` (its lower Cholesky factor,
        or with ``variance_rank`` its leading eigenpairs) and the inverse of ``U``, computed
        once per update of the factors (or per refresh; cached until then).

        ``V`` and ``U`` are positive definite by construction (a PSD average plus ``√τ0 I``),
        so their Cholesky factorisations succeed unless the factors hold NaN/inf. With
        ``check`` that is verified (and a failing factorisation retried with jitter, which
        reads back to the host); without, NaN factors make the scores NaN, which the training
        loop catches as a non-finite loss at the end of the epoch."""
        if self._cache is not None and self._is_current(*self._cache[0], check):
            return self._cache[1]
        return self.refresh(check)

    @torch.no_grad()
    def refresh(
        self, check: bool = True
    ) -> tuple[CholeskyVariance | LowRankVariance, torch.Tensor]:
        """Factorise ``V`` and ``U`` now, whatever the cadence (the low-rank basis
        warm-started at the last one's), and serve it until the next refresh is due."""
        V, U = self.factors()
        if check:
            L_u = safe_cholesky(U, name="U (KFAC output factor)")
        else:
            L_u = torch.linalg.cholesky_ex(U).L
        if self.variance_rank:
            if check:
                check_finite(V, name="V (KFAC feature factor)")
            previous = None if self._cache is None else self._cache[1][0]
            variance = LowRankVariance.of(
                V, self.variance_rank, previous if isinstance(previous, LowRankVariance) else None
            )
        else:
            L_v = (
                safe_cholesky(V, name="V (KFAC feature factor)")
                if check
                else torch.linalg.cholesky_ex(V).L
            )
            variance = CholeskyVariance(L_v, self._buffers_solve)
        out = (variance, torch.cholesky_inverse(L_u))
        self._cache = ((self.num_updates, check), out)
        return out

    def _is_current(self, at: int, checked: bool, check: bool) -> bool:
        """Whether a factorisation made after update ``at`` serves now: made at this update,
        or (amortised) fewer than ``refresh_every`` updates ago and not from the prior."""
        age = self.num_updates - at
        return checked == check and (age == 0 or (at > 0 and age < self.refresh_every))

    @torch.no_grad()
    def predictive(
        self, features: torch.Tensor, mean_logits: torch.Tensor, check: bool = True
    ) -> KronPredictive:
        """``q(f_x)`` for a batch (Eq. 15): ``s_x = h̃_xᵀV⁻¹h̃_x`` for every point at once (one
        triangular solve, or one product with the low-rank basis), with the factorisation of
        :meth:`factorisation`."""
        variance, u_inv = self.factorisation(check)
        var_scale = variance.var_scale(features)
        return KronPredictive(mean_logits.to(u_inv.dtype), var_scale, u_inv, check=check)

    # --------------------------------------------------------------- checkpoint
    def state_dict(self) -> dict:
        """``A``, ``G``, the update count and, for an amortised refresh, the factorisation in
        use (a resumed chain scores with the same lagged factors as an uninterrupted one)."""
        state = {"A": self.A.clone(), "G": self.G.clone(), "num_updates": self.num_updates}
        if (self.refresh_every > 1 or self.variance_rank) and self._cache is not None:
            (at, checked), (variance, u_inv) = self._cache
            state["factorisation"] = {
                "at": at, "checked": checked, "U_inv": u_inv.clone(), **variance.state_dict(),
            }  # fmt: skip
        return state

    def load_state_dict(self, state: dict) -> None:
        self.A.copy_(state["A"])
        self.G.copy_(state["G"])
        self.num_updates = int(state["num_updates"])
        self._cache = None
        if "factorisation" in state:
            f = state["factorisation"]
            if "basis" in f:
                variance = LowRankVariance(
                    *(f[k].to(self.A) for k in ("basis", "weights", "c_inv"))
                )
            else:
                variance = CholeskyVariance(f["L_v"].to(self.A), self._buffers_solve)
            self._cache = ((int(f["at"]), bool(f["checked"])), (variance, f["U_inv"].to(self.G)))
