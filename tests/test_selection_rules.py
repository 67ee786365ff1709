"""Every selection score against a plain loop-over-points computation on a tiny batch."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bayes_dps.errors import ConfigError, DataError, NumericalError
from bayes_dps.inference import LastLayerKFACLaplace
from bayes_dps.selection import (
    BayesianSelection,
    BigBatch,
    GradNormISSelection,
    GradNormSelection,
    IrreducibleLossSelection,
    RhoLossSelection,
    SVPSelection,
    TrainLossSelection,
    UniformSelection,
    build_rule,
)
from bayes_dps.selection.predictors import CachedLogits

N, D, K = 7, 4, 3


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 5, generator=g)
    feats = torch.randn(N, D, generator=g)
    head = nn.Linear(D, K)
    with torch.no_grad():
        head.weight.copy_(torch.randn(K, D, generator=g))
        head.bias.copy_(torch.randn(K, generator=g))
    logits = head(feats).detach()
    y = torch.randint(0, K, (N,), generator=g)
    return BigBatch(x, y, torch.arange(N) + 100, logits, feats), head


def loss_loop(logits, y):
    out = []
    for i in range(len(y)):
        z = [math.exp(v) for v in logits[i].tolist()]
        out.append(-math.log(z[int(y[i])] / sum(z)))
    return torch.tensor(out)


def table_predictor(seed=1):
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(200, K, generator=g)
    return CachedLogits(table, "fp"), table


def test_train_loss(batch):
    b, _ = batch
    rule = TrainLossSelection()
    assert torch.allclose(rule.scores(b), loss_loop(b.logits, b.y), atol=1e-5)
    sel = rule.select(b, 3)
    assert set(sel.positions.tolist()) == set(torch.argsort(loss_loop(b.logits, b.y))[-3:].tolist())


def test_irreducible_and_rho_loss(batch):
    b, _ = batch
    pred, table = table_predictor()
    il = loss_loop(table[b.idx], b.y)
    assert torch.allclose(IrreducibleLossSelection(pred).scores(b), -il, atol=1e-5)
    rho = RhoLossSelection(pred).scores(b)
    assert torch.allclose(rho, loss_loop(b.logits, b.y) - il, atol=1e-5)
    assert not IrreducibleLossSelection(pred).needs_forward


def test_grad_norm_equals_autograd_norm_of_head_gradient(batch):
    b, head = batch
    expected = []
    for i in range(N):  # the head's gradient for one point at a time
        head.zero_grad()
        nn.functional.cross_entropy(head(b.features[i : i + 1]), b.y[i : i + 1]).backward()
        expected.append(torch.cat([head.weight.grad.flatten(), head.bias.grad]).norm())
    assert torch.allclose(GradNormSelection().scores(b), torch.stack(expected), atol=1e-5)


def test_grad_norm_is_probabilities_and_unbiased_weights(batch):
    b, _ = batch
    rule = GradNormISSelection(seed=0)
    norms = GradNormSelection().scores(b)
    p = norms / norms.sum()
    losses = loss_loop(b.logits, b.y)
    counts = torch.zeros(N)
    estimates = []
    for _ in range(4000):
        sel = rule.select(b, 4)
        counts += torch.bincount(sel.positions, minlength=N)
        assert torch.allclose(sel.weights, 1 / (N * p[sel.positions]), rtol=1e-4)
        estimates.append((sel.weights * losses[sel.positions]).mean())
    assert torch.allclose(counts / counts.sum(), p, atol=0.01)
    # importance weights make the selected-batch loss unbiased for the big-batch mean
    assert torch.stack(estimates).mean().item() == pytest.approx(losses.mean().item(), rel=0.02)


def test_svp_entropy(batch):
    b, _ = batch
    pred, table = table_predictor(seed=3)
    expected = []
    for i in b.idx.tolist():
        z = [math.exp(v) for v in table[i].tolist()]
        p = [v / sum(z) for v in z]
        expected.append(-sum(q * math.log(q) for q in p))
    assert torch.allclose(SVPSelection(pred).scores(b), torch.tensor(expected), atol=1e-5)


def fitted_posterior():
    g = torch.Generator().manual_seed(5)
    post = LastLayerKFACLaplace(D, K, n_e=30.0, tau0=1.5, momentum=0.8)
    for _ in range(3):
        post.update(
            torch.randn(9, D, generator=g),
            torch.randn(9, K, generator=g),
            torch.randint(0, K, (9,), generator=g),
        )
    return post


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_bayesian_score_equals_loop_over_points(batch, alpha):
    """Eq. 16 with draws from N(f, (h̃ᵀV⁻¹h̃)U⁻¹) rebuilt point by point from V and U."""
    b, _ = batch
    post = fitted_posterior()
    pred, table = table_predictor(seed=7)
    S = 50
    rule = BayesianSelection(post, pred, alpha=alpha, estimator="mc", num_samples=S, seed=11)
    scores = rule.scores(b)

    V, U = post.factors()
    C = torch.linalg.cholesky(torch.linalg.inv(U))
    # KronPredictive.sample draws ε class-major: a (K, S·N) block
    eps = torch.randn((K, S, N), generator=torch.Generator().manual_seed(11))
    expected = []
    for i in range(N):
        h = torch.cat([b.features[i], torch.ones(1)])
        s_i = (h @ torch.linalg.solve(V, h)).item()
        yi = int(b.y[i])
        loglik = []
        for s in range(S):
            f = b.logits[i] + math.sqrt(s_i) * (C @ eps[:, s, i])
            loglik.append(torch.log_softmax(f, 0)[yi].item())
        zs = torch.log_softmax(table[b.idx[i]], 0)[yi].item()
        term1 = sum(loglik) / S
        term3 = math.log(sum(math.exp(v) for v in loglik) / S)
        expected.append(alpha * term1 + (1 - alpha) * zs - term3)
    assert torch.allclose(scores, torch.tensor(expected), atol=1e-4)


def test_bayesian_update_and_adaptive_alpha(batch):
    b, _ = batch
    post = LastLayerKFACLaplace(D, K)
    pred, table = table_predictor()
    rule = BayesianSelection(post, pred, adaptive_alpha=True, num_samples=8)
    sel = rule.select(b, 2)
    zs_loss = loss_loop(table[b.idx], b.y).mean()
    model_loss = loss_loop(b.logits, b.y).mean()
    expected = (zs_loss / (zs_loss + model_loss)).item()
    assert float(rule.last_alpha) == pytest.approx(expected, rel=1e-4)
    chosen = BigBatch(
        b.x[sel.positions],
        b.y[sel.positions],
        b.idx[sel.positions],
        b.logits[sel.positions],
        b.features[sel.positions],
    )
    rule.update(chosen, sel)
    assert post.num_updates == 1 and post.A.abs().sum() > 0
    state = rule.state_dict()
    again = BayesianSelection(LastLayerKFACLaplace(D, K), pred, num_samples=8)
    again.load_state_dict(state)
    assert torch.equal(again.posterior.A, post.A)


def test_rules_pick_the_top_scores(batch):
    """n_b < N on scores whose top 3 differ from their bottom 3: the highest are kept."""
    b, _ = batch
    losses = loss_loop(b.logits, b.y)
    top3 = set(torch.argsort(losses, descending=True)[:3].tolist())
    assert top3 != set(torch.argsort(losses)[:3].tolist())
    for rule in (TrainLossSelection(), GradNormSelection()):
        sel = rule.select(b, 3)
        expected = set(torch.argsort(sel.scores, descending=True)[:3].tolist())
        assert set(sel.positions.tolist()) == expected
    assert set(TrainLossSelection().select(b, 3).positions.tolist()) == top3
    uni = UniformSelection(seed=0).select(b, 4).positions
    assert len(set(uni.tolist())) == 4


def test_bad_inputs(batch):
    b, _ = batch
    pred, _ = table_predictor()
    post = LastLayerKFACLaplace(D, K)
    with pytest.raises(ConfigError, match=r"bayesian.alpha must be a number in \[0, 1\], got 1.5"):
        BayesianSelection(post, pred, alpha=1.5)
    with pytest.raises(
        ConfigError, match=r"bayesian.num_samples must be an integer in \[1, 10_000\], got 0"
    ):
        BayesianSelection(post, pred, num_samples=0)
    nan = BigBatch(b.x, b.y, b.idx, b.logits.clone(), b.features)
    nan.logits[2, 1] = float("nan")
    with pytest.raises(NumericalError, match="NaN"):
        TrainLossSelection().select(nan, 2)
    wrong = CachedLogits(torch.zeros(200, K + 2), "fp")
    with pytest.raises(DataError, match="predicts 5 classes but the dataset has 3"):
        build_rule("rho_loss", predictors={"holdout": wrong}, num_classes=K)
    with pytest.raises(ConfigError, match="needs a holdout predictor"):
        build_rule("rho_loss", predictors={}, num_classes=K)
    with pytest.raises(NumericalError, match="NaN or infinite"):
        CachedLogits(torch.full((3, K), float("nan")), "fp")


def test_bayesian_epoch_stats_are_the_selected_points_mean_summands(batch):
    """The three summands of Eq. 16, averaged over the points selected since the last read,
    add up to the selected points' mean score."""
    b, _ = batch
    pred, table = table_predictor(seed=7)
    rule = BayesianSelection(fitted_posterior(), pred, alpha=0.3)
    scores = rule.scores(b)
    sel = rule.select(b, 3)
    rule.update(b, sel)
    terms = rule.epoch_stats()
    assert set(terms) == {"model", "predictor", "log_predictive"}
    zs = torch.log_softmax(table[b.idx], 1).gather(1, b.y[:, None])[:, 0]
    assert terms["predictor"] == pytest.approx(0.7 * zs[sel.positions].mean().item(), rel=1e-5)
    assert sum(terms.values()) == pytest.approx(scores[sel.positions].mean().item(), rel=1e-5)
    assert rule.epoch_stats() == {}  # read once, then reset
