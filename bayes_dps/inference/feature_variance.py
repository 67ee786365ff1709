"""The per-point variance factor ``s_x = h̃_xᵀ V⁻¹ h̃_x`` of the last-layer posterior's
predictive (Deng et al. Eq. 15), from one factorisation of ``V`` shared by a batch.

:class:`CholeskyVariance` is exact: ``s_x = ‖L_V⁻¹ h̃_x‖²`` by one batched triangular solve,
``O(n d̃²)`` per batch after an ``O(d̃³)`` factorisation.

:class:`LowRankVariance` keeps ``V``'s ``r`` leading eigenpairs ``(μ_j, q_j)`` and replaces
the other ``d̃ − r`` eigenvalues by their mean ``c = (tr V − Σ_j μ_j) / (d̃ − r)``:

    V⁻¹ ≈ c⁻¹ I − Q_r diag(ω) Q_rᵀ,     ω_j = c⁻¹ − μ_j⁻¹ ∈ [0, c⁻¹]
    s_x ≈ c⁻¹ ‖h̃_x‖² − Σ_j ω_j (q_jᵀ h̃_x)²                         O(n d̃ r)

It is exact when the complement is isotropic: with ``V = √n_e A + √τ0 I`` that holds when the
features' second moment ``A`` has rank ≤ ``r`` — every other eigenvalue is then ``√τ0``. The
error at ``x`` is ``Σ_rest (λ_j⁻¹ − c⁻¹)(q_jᵀh̃_x)²``, at most ``max_rest |λ_j⁻¹ − c⁻¹| ·
‖h̃_x‖²``; ``s_x ≥ 0`` always (``ω`` is clamped to ``[0, c⁻¹]``). A network's features
concentrate in comparatively few directions: on the digits MLP (``d̃ = 257``, 20 % label
noise) one eigenvalue of ``V`` dominates (50–80 against ``√τ0 = 1``), 15–32 exceed ``√τ0``
by more than 10 % and most of the rest stay within 1 % of it (5 to 60 epochs in); the cost of
averaging the rest is measured as top-``n_b`` agreement (``benchmarks/refresh_agreement.py``).
The pairs come from
``torch.linalg.eigh`` at the first factorisation and then from a few steps of subspace
iteration warm-started at the previous basis (``O(d̃² r)`` each, with a Rayleigh–Ritz step),
since ``V`` moves little between refreshes.
"""

from __future__ import annotations

import torch


class SolveBuffers:
    """``[h, 1]`` and ``L_V⁻¹[h, 1]`` buffers kept between steps. A fresh ``n × d̃`` result
    per step (page-faulted memory above the allocator's reuse threshold) cost more than the
    arithmetic on the digits MLP; ``h̃`` is laid out column-major as the triangular solve
    wants it (it would copy a row-major one)."""

    def __init__(self, dtype: torch.dtype, device: torch.device | str | None) -> None:
        self.dtype = dtype
        self.h = torch.ones(1, 0, device=device, dtype=dtype).T
        self.solved = torch.empty_like(self.h)

    def with_bias(self, features: torch.Tensor) -> torch.Tensor:
        n, d = features.shape
        if self.h.shape[0] != n or self.h.device != features.device:
            self.h = torch.ones(d + 1, n, device=features.device, dtype=self.dtype).T
            self.solved = torch.empty_like(self.h)
        self.h[:, :d].copy_(features)
        return self.h


class CholeskyVariance:
    """Exact ``s_x`` from ``V``'s lower Cholesky factor ``L_V``."""

    def __init__(self, L_v: torch.Tensor, buffers: SolveBuffers) -> None:
        self.L_v, self.buffers = L_v, buffers

    def var_scale(self, features: torch.Tensor) -> torch.Tensor:
        h = self.buffers.with_bias(features)
        # rows of h̃ L_V⁻ᵀ are (L_V⁻¹ h̃_x)ᵀ: the right-sided solve is the faster one here
        solved = torch.linalg.solve_triangular(self.L_v.T, h, upper=True, left=False,
                                               out=self.buffers.solved)  # fmt: skip
        return torch.linalg.vecdot(solved, solved)

    def state_dict(self) -> dict:
        return {"L_v": self.L_v.clone()}


def leading_eigenpairs(
    V: torch.Tensor, rank: int, basis: torch.Tensor | None = None, iterations: int = 2
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(μ, Q)``: ``rank`` leading eigenvalues (ascending) and orthonormal eigenvectors of a
    symmetric ``V`` — by ``eigh`` without a ``basis``; else by ``iterations`` steps of
    subspace iteration ``Q ← qr(V Q)`` from it and a Rayleigh–Ritz step ``eigh(QᵀVQ)``."""
    if basis is None:
        values, vectors = torch.linalg.eigh(V)
        return values[-rank:], vectors[:, -rank:]
    Q = basis
    for _ in range(iterations):
        Q = torch.linalg.qr(V @ Q).Q
    mu, S = torch.linalg.eigh(Q.T @ V @ Q)
    return mu, Q @ S


class LowRankVariance:
    """``s_x`` from ``V``'s ``r`` leading eigenpairs and the mean of its other eigenvalues
    (module docstring)."""

    def __init__(self, basis: torch.Tensor, weights: torch.Tensor, c_inv: torch.Tensor) -> None:
        self.basis, self.weights, self.c_inv = basis, weights, c_inv

    @classmethod
    def of(
        cls, V: torch.Tensor, rank: int, previous: LowRankVariance | None = None
    ) -> LowRankVariance:
        """Factorise ``V`` (warm-started at ``previous``'s basis when given)."""
        mu, Q = leading_eigenpairs(V, rank, None if previous is None else previous.basis)
        rest = (V.diagonal().sum() - mu.sum()) / (len(V) - rank)
        c_inv = 1.0 / rest.clamp_min(torch.finfo(V.dtype).tiny)
        weights = (c_inv - 1.0 / mu).clamp(0.0, c_inv)
        return cls(Q, weights, c_inv)

    def var_scale(self, features: torch.Tensor) -> torch.Tensor:
        h, Q = features.to(self.basis.dtype), self.basis
        d = h.shape[1]
        proj = torch.addmm(Q[d], h, Q[:d])  # [h, 1] Q_r without forming [h, 1]
        # ‖h‖² by a reduction that forms no n × d temporary (vecdot's product, a fresh
        # page-faulted buffer each step, cost several times the arithmetic on the digits MLP)
        norm = torch.linalg.vector_norm(h, dim=1).square_() + 1.0
        return self.c_inv * norm - proj.square() @ self.weights

    def state_dict(self) -> dict:
        return {
            "basis": self.basis.clone(), "weights": self.weights.clone(),
            "c_inv": self.c_inv.clone(),
        }  # fmt: skip
