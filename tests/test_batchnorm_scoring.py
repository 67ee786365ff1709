"""BatchNorm during online selection (RHO-LOSS / Deng et al. App. B.3).

The scoring forward over ``B_t`` normalises with ``B_t``'s own batch statistics but leaves the
running statistics untouched; the training step on ``b_t`` then moves them with ``b_t``'s
statistics only — checked against a hand computation of the running-average update.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from bayes_dps import ModelPredictor, OnlineSelector
from bayes_dps.methods.online.loop import OnlineSelectionEpoch
from bayes_dps.models.base import FeatureHeadModel
from bayes_dps.selection.uniform import UniformSelection


class BNNet(FeatureHeadModel):
    def __init__(self, d: int = 5, k: int = 3) -> None:
        super().__init__()
        self.lin = nn.Linear(d, 8)
        self.bn = nn.BatchNorm1d(8, momentum=0.1)
        self.head = nn.Linear(8, k)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.lin(x)))


def bn_state(model: BNNet) -> tuple[torch.Tensor, ...]:
    bn = model.bn
    return bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone()


@pytest.mark.parametrize("rule", ["bayesian", "rho_loss", "train_loss", "grad_norm"])
def test_scoring_uses_batch_statistics_and_keeps_the_running_ones(rule):
    torch.manual_seed(0)
    model = BNNet()
    with torch.no_grad():  # running statistics far from any batch's
        model.bn.running_mean.fill_(3.0)
        model.bn.running_var.fill_(9.0)
    selector = OnlineSelector(model, rule, ModelPredictor(BNNet().eval()), num_samples=4)
    x, y = torch.randn(32, 5) + 1.0, torch.randint(0, 3, (32,))
    before = bn_state(model)
    logits, _ = selector.scoring_forward(x)
    selector.select(x, y, torch.arange(32), n_b=8)
    for a, b in zip(before, bn_state(model), strict=True):
        assert torch.equal(a, b)
    with torch.no_grad():
        batch_stats = copy.deepcopy(model).train()(x)  # B_t's own statistics
        running_stats = copy.deepcopy(model).eval()(x)
    assert torch.allclose(logits, batch_stats, atol=1e-6)
    assert not torch.allclose(logits, running_stats, atol=1e-3)


def test_the_training_step_moves_running_statistics_with_the_selected_batch_only():
    torch.manual_seed(1)
    model = BNNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # parameters fixed: isolate the BN update
    epoch = OnlineSelectionEpoch(model, opt, _Stream(), UniformSelection(seed=0), n_b=6)
    x, y, idx = torch.randn(24, 5) * 2 + 0.5, torch.randint(0, 3, (24,)), torch.arange(24)
    mean0, var0, count0 = bn_state(model)
    chosen, _ = epoch.step(x, y, idx)
    with torch.no_grad():
        pre = model.lin(chosen.x)  # b_t's pre-normalisation activations
    m = model.bn.momentum
    expected_mean = (1 - m) * mean0 + m * pre.mean(0)
    expected_var = (1 - m) * var0 + m * pre.var(0, unbiased=True)
    assert torch.allclose(model.bn.running_mean, expected_mean, atol=1e-6)
    assert torch.allclose(model.bn.running_var, expected_var, atol=1e-5)
    assert int(model.bn.num_batches_tracked) == int(count0) + 1  # one update: b_t, not B_t


class _Stream:
    device = torch.device("cpu")

    def __len__(self):
        return 1

    class dataset:
        def __len__(self):
            return 24

    dataset = dataset()
