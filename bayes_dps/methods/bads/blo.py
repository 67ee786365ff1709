"""The bi-level baseline ``blo``: one-step look-ahead meta-gradient weights (Ren et al. 2018,
"Learning to Reweight Examples"; the BLO baseline of Xu et al. 2024).

For a training minibatch ``B_t`` and a meta minibatch ``B_m``, with per-example perturbations
``ε`` (evaluated at ε = 0):

    θ'(ε)   = θ − α ∇_θ Σ_{i∈B_t} ε_i ℓ_i(θ)                    (look-ahead SGD step)
    g_i     = ∂/∂ε_i  mean_{j∈B_m} ℓ_j(θ'(ε)) |_{ε=0}            (meta-gradient, Eq. 4 of L2RW)
    w̃_i     = max(−g_i, 0),   w_i = w̃_i / Σ_k w̃_k               (Eq. 5–6 of L2RW)

and the real optimiser step minimises ``Σ_i w_i ℓ_i`` on ``B_t``. A step therefore costs a
forward/backward on ``B_t`` with a differentiable gradient, a forward/backward on ``B_m``
through it (second order), and the real forward/backward: several plain steps — the cost the
BADS paper contrasts with its single pass.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from bayes_dps import distributed as dist
from bayes_dps.data.batches import BatchStream
from bayes_dps.errors import NumericalError
from bayes_dps.inference.weight_trace import WeightRecorder
from bayes_dps.methods.bads.reweighting import MetaReweightingBlock
from bayes_dps.models.batchnorm import frozen_running_stats
from bayes_dps.models.likelihoods import Classification, Likelihood, upcast


def lookahead_meta_gradient(
    model: nn.Module,
    x_t: torch.Tensor,
    y_t: torch.Tensor,
    x_m: torch.Tensor,
    y_m: torch.Tensor,
    inner_lr: float,
    likelihood: Likelihood | None = None,
) -> torch.Tensor:
    """``g_i = ∂ L_m(θ'(ε)) / ∂ε_i`` at ε = 0 for every point of ``B_t`` (L2RW Eq. 4), with the
    losses ``−log p(z | θ)`` of ``likelihood`` (default: classification).

    ``θ'(ε)`` is linear in ``ε``, so at ``ε = 0`` the derivative is exactly
    ``g_i = −α ⟨∇_θ L_m(θ), ∇_θ ℓ_i(θ)⟩``: one backward pass over ``B_m`` gives ``∇L_m``, and a
    second-order backward through ``⟨∇L_m, ∇_θ Σ_i ε_i ℓ_i⟩`` gives every ``g_i`` at once.
    Distributed, ``∇L_m`` is averaged over the ranks' meta shards first, so each rank's
    ``g_i`` are those of the global step. Only trainable parameters take the look-ahead step;
    BatchNorm running statistics are left untouched."""
    lik = likelihood or Classification()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    dtype = upcast(params[0]).dtype
    eps = torch.zeros(len(y_t), device=params[0].device, dtype=dtype, requires_grad=True)
    # the math attention kernel: the fused ones have no second-order backward
    with frozen_running_stats(model), sdpa_kernel([SDPBackend.MATH]):
        meta_loss = -upcast(lik(model, x_m, y_m).values).mean()
        meta_grads = [g.detach() for g in torch.autograd.grad(meta_loss, params, allow_unused=True)]
        meta_grads = [
            torch.zeros_like(p) if g is None else g for p, g in zip(params, meta_grads, strict=True)
        ]
        dist.all_reduce_sum_(meta_grads)
        meta_grads = [g / dist.world_size() for g in meta_grads]
        inner = (eps * -upcast(lik(model, x_t, y_t).values)).sum()
        grads = torch.autograd.grad(inner, params, create_graph=True, allow_unused=True)
        dot = sum((g * m).sum() for g, m in zip(grads, meta_grads, strict=True) if g is not None)
        (g_eps,) = torch.autograd.grad(-inner_lr * dot, eps)
    if not torch.isfinite(g_eps).all():
        raise NumericalError("non-finite BLO meta-gradient; lower optimizer.lr or blo.inner_lr")
    return g_eps


def lookahead_weights(
    model: nn.Module,
    x_t: torch.Tensor,
    y_t: torch.Tensor,
    x_m: torch.Tensor,
    y_m: torch.Tensor,
    inner_lr: float,
    likelihood: Likelihood | None = None,
) -> torch.Tensor:
    """L2RW's per-example weights ``w`` (non-negative, summing to 1 over the global batch, or
    all 0 when no example's up-weighting lowers the meta loss; L2RW Eq. 5–6)."""
    g = lookahead_meta_gradient(model, x_t, y_t, x_m, y_m, inner_lr, likelihood)
    w = torch.clamp(-g, min=0)
    total = w.sum().reshape(1)
    dist.all_reduce_sum_([total])
    return torch.where(total > 0, w / total.clamp_min(1e-30), w)


class BLOBlock(MetaReweightingBlock):
    """``steps`` L2RW steps (an :class:`~bayes_dps.training.trainer.EpochStep`).

    The reported weight of an instance is ``|B_t| · w_i`` at its latest visit (1 = uniform),
    so group means read like BADS's ``w`` (higher = trusted)."""

    fix = "lower optimizer.lr or blo.inner_lr"

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        train: BatchStream,
        meta: BatchStream,
        steps: int,
        inner_lr: float,
        recorder: WeightRecorder,
        masks: dict[str, np.ndarray],
        device: torch.device | str = "cpu",
        likelihood: Likelihood | None = None,
    ) -> None:
        super().__init__(model, optimizer, train, meta, steps, recorder, masks, device, likelihood)
        self.inner_lr = inner_lr

    def step_weights(self, x_t, y_t, x_m, y_m, n: int, step: int) -> torch.Tensor:
        w = lookahead_weights(self.model, x_t, y_t, x_m, y_m, self.inner_lr, self.likelihood)
        return w * n
