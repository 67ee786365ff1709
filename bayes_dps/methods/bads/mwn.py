"""Meta-Weight-Net (Shu et al. 2019, "Meta-Weight-Net: Learning an Explicit Mapping For
Sample Weighting"): a small network ``V(ℓ; φ)`` maps each training example's loss to its
weight, learnt by the one-step look-ahead meta-gradient on the curated set — the amortised
cousin of L2RW (``blo``) that a practitioner reaches for next.

Each step, with a training minibatch ``B_t``, a meta minibatch ``B_m`` and ``ℓ_i = −log p(z_i|θ)``:

    θ̂(φ)  = θ − α ∇_θ (1/|B_t|) Σ_i V(ℓ_i; φ) ℓ_i(θ)              (Eq. 3, look-ahead step)
    φ     ← φ − β ∇_φ (1/|B_m|) Σ_j ℓ_j(θ̂(φ))                      (Eq. 4, meta step; Adam)
    θ     ← optimiser step on (1/|B_t|) Σ_i V(ℓ_i; φ) ℓ_i(θ)       (Eq. 5, with the new φ)

``V`` is an MLP ``1 → hidden → 1`` with a ReLU and a sigmoid output (the paper's choice, 100
hidden units); its input is the loss value, detached (the weights do not differentiate through
the loss they weight, as in the paper's code). The look-ahead step is plain SGD with step
``mwn.inner_lr``; the meta loss is evaluated at ``θ̂(φ)`` through
``torch.func.functional_call``, so the meta-gradient is exact (second order); BatchNorm running
statistics are left untouched by it. A step costs a first-order and a second-order pass more
than a plain step, like ``blo``. One process only (the look-ahead is not sharded across
``torch.distributed`` ranks).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from bayes_dps import distributed as dist
from bayes_dps.data.batches import BatchStream
from bayes_dps.errors import ConfigError, NumericalError
from bayes_dps.inference.weight_trace import WeightRecorder
from bayes_dps.methods.bads.reweighting import MetaReweightingBlock
from bayes_dps.models.batchnorm import frozen_running_stats
from bayes_dps.models.likelihoods import Classification, Likelihood, upcast


class MetaWeightNet(nn.Module):
    """``V(ℓ; φ) = σ(W₂ relu(W₁ ℓ + b₁) + b₂)``: one weight in (0, 1) per loss value."""

    def __init__(self, hidden: int = 100) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(losses.reshape(-1, 1))).reshape(-1)


def meta_loss(
    model: nn.Module,
    vnet: MetaWeightNet,
    x_t: torch.Tensor,
    y_t: torch.Tensor,
    x_m: torch.Tensor,
    y_m: torch.Tensor,
    inner_lr: float,
    likelihood: Likelihood | None = None,
) -> torch.Tensor:
    """``(1/|B_m|) Σ_j ℓ_j(θ̂(φ))`` (Eq. 3–4), differentiable in ``φ`` (``vnet``'s parameters)."""
    lik = likelihood or Classification()
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    with frozen_running_stats(model), sdpa_kernel([SDPBackend.MATH]):
        losses = -upcast(lik(model, x_t, y_t).values)
        v = vnet(losses.detach())
        inner = (v * losses).mean()
        grads = torch.autograd.grad(inner, list(params.values()), create_graph=True)
        ahead = {n: p - inner_lr * g for (n, p), g in zip(params.items(), grads, strict=True)}
        return -upcast(lik(model, x_m, y_m, params=ahead).values).mean()


class MWNBlock(MetaReweightingBlock):
    """``steps`` Meta-Weight-Net steps (an :class:`~bayes_dps.training.trainer.EpochStep`).

    The reported weight of an instance is ``V(ℓ_i; φ)`` at its latest visit; ``φ``, its
    optimiser and the weights are checkpointed, so a resumed run continues exactly."""

    fix = "lower optimizer.lr or mwn.inner_lr"

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        train: BatchStream,
        meta: BatchStream,
        steps: int,
        *,
        inner_lr: float,
        meta_lr: float,
        hidden: int,
        recorder: WeightRecorder,
        masks: dict[str, np.ndarray],
        device: torch.device | str = "cpu",
        likelihood: Likelihood | None = None,
    ) -> None:
        if dist.world_size() > 1:
            raise ConfigError(
                "mwn runs on one process (its look-ahead meta-gradient is not sharded); run it "
                "without torchrun, or use blo, whose meta-gradient is"
            )
        likelihood = likelihood or Classification()
        super().__init__(model, optimizer, train, meta, steps, recorder, masks, device, likelihood)
        self.inner_lr = inner_lr
        self.vnet = MetaWeightNet(hidden).to(device)
        # the paper's meta optimiser: Adam, weight decay 1e-4
        self.vnet_optimizer = torch.optim.Adam(
            self.vnet.parameters(), lr=meta_lr, weight_decay=1e-4
        )

    def step_weights(self, x_t, y_t, x_m, y_m, n: int, step: int) -> torch.Tensor:
        """Eq. 4's meta step on ``φ``, then ``V(ℓ_i; φ)`` with the new ``φ`` (Eq. 5)."""
        self.model.train()
        self.vnet_optimizer.zero_grad(set_to_none=True)
        meta = meta_loss(self.model, self.vnet, x_t, y_t, x_m, y_m, self.inner_lr, self.likelihood)
        meta.backward()
        if not torch.isfinite(meta):
            raise NumericalError(
                f"non-finite Meta-Weight-Net meta loss in step {step + 1}; lower "
                "mwn.inner_lr or mwn.meta_lr"
            )
        self.vnet_optimizer.step()
        self.model.zero_grad(set_to_none=True)  # the meta pass left gradients on θ
        with torch.no_grad(), frozen_running_stats(self.model):
            return self.vnet(-upcast(self.likelihood(self.model, x_t, y_t).values))

    def extra_state(self) -> dict:
        return {"vnet": self.vnet.state_dict(), "vnet_optimizer": self.vnet_optimizer.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        self.vnet.load_state_dict(state["vnet"])
        self.vnet_optimizer.load_state_dict(state["vnet_optimizer"])
