"""The meta baselines of the BADS comparison: BLO (L2RW look-ahead), contrastive (CDS) and
ClassAct (a curated-vs-uncurated classifier's probability as loss weights)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from helpers import ROOT
from torch import nn

from bayes_dps.config import BADS_DEFAULTS, load_config
from bayes_dps.data.registry import load_data
from bayes_dps.inference.bads import BADSSampler, default_weight_net
from bayes_dps.inference.weight_trace import top_fraction
from bayes_dps.methods.bads.blo import lookahead_meta_gradient, lookahead_weights
from bayes_dps.methods.bads.classact import classact_weights, curated_probability
from bayes_dps.methods.bads.contrastive import (
    contrastive_scores,
    log_likelihoods,
)
from bayes_dps.models import build_model
from bayes_dps.models.priors import truncated_normal

DENOISE = ROOT / "experiments" / "configs" / "digits_denoise.yaml"


def digits_problem(config, sets):
    """``(cfg, splits, make_model)`` of a digits BADS config with ``sets`` applied."""
    cfg = load_config(config, sets, BADS_DEFAULTS)
    splits = load_data(cfg["dataset"])

    def make():
        return build_model(
            cfg["model"], splits.input_shape, splits.num_classes, cfg["model_options"]
        )

    return cfg, splits, make


def tiny_problem(seed=0):
    torch.manual_seed(seed)
    model = build_model("mlp", (5,), 3, {"hidden": [7]}).double()
    x_t, y_t = torch.randn(6, 5, dtype=torch.double), torch.tensor([0, 1, 2, 0, 1, 2])
    x_m, y_m = torch.randn(4, 5, dtype=torch.double), torch.tensor([0, 1, 2, 1])
    return model, x_t, y_t, x_m, y_m


def test_meta_gradient_matches_finite_differences_of_an_explicit_lookahead_step():
    """g_i vs (L_m(θ − αδ∇ℓ_i) − L_m(θ + αδ∇ℓ_i)) / 2δ with a hand-made SGD step on a copy."""
    model, x_t, y_t, x_m, y_m = tiny_problem()
    alpha, delta = 0.5, 1e-5
    g = lookahead_meta_gradient(model, x_t, y_t, x_m, y_m, alpha)
    ref = []
    for i in range(len(y_t)):
        losses = []
        for sign in (1, -1):
            m = copy.deepcopy(model)
            loss_i = F.cross_entropy(m(x_t[i : i + 1]), y_t[i : i + 1])
            grads = torch.autograd.grad(sign * delta * loss_i, list(m.parameters()))
            with torch.no_grad():
                for p, gr in zip(m.parameters(), grads, strict=True):
                    p -= alpha * gr
                losses.append(F.cross_entropy(m(x_m), y_m))
        ref.append((losses[0] - losses[1]) / (2 * delta))
    assert torch.allclose(g, torch.stack(ref), rtol=1e-5, atol=1e-9)
    assert g.abs().max() > 1e-3  # not trivially zero


def test_lookahead_weights_are_normalised_clipped_negative_gradients():
    model, x_t, y_t, x_m, y_m = tiny_problem(1)
    g = lookahead_meta_gradient(model, x_t, y_t, x_m, y_m, 0.1)
    w = lookahead_weights(model, x_t, y_t, x_m, y_m, 0.1)
    assert (w >= 0).all() and torch.isclose(w.sum(), torch.tensor(1.0, dtype=w.dtype))
    assert torch.equal(w > 0, g < 0)
    assert torch.allclose(w, (-g).clamp(min=0) / (-g).clamp(min=0).sum())


def test_lookahead_leaves_parameters_and_batchnorm_statistics_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    before = copy.deepcopy(model.state_dict())
    lookahead_weights(model, torch.randn(6, 5), torch.arange(6) % 3, torch.randn(4, 5),
                      torch.arange(4) % 3, 0.1)  # fmt: skip
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_log_likelihoods_and_top_fraction():
    torch.manual_seed(0)
    cfg = load_config(DENOISE, ["dataset.noise=0.5"], BADS_DEFAULTS)
    splits = load_data(cfg["dataset"])
    model = build_model("mlp", splits.input_shape, splits.num_classes, {"hidden": [16]})
    ll = log_likelihoods(model, splits.train, "cpu", batch_size=100)
    with torch.no_grad():
        direct = -F.cross_entropy(
            model(splits.train.inputs), torch.as_tensor(splits.train.targets), reduction="none"
        )
    assert torch.allclose(ll, direct, atol=1e-5)
    keep = top_fraction(torch.tensor([0.3, -1.0, 2.0, 0.1, 5.0]), 0.4)
    assert keep == [2, 4]


def test_contrastive_scores_rank_clean_points_above_noisy_ones():
    cfg, splits, make = digits_problem(
        DENOISE, ["contrastive.base_steps=300", "contrastive.finetune_steps=60"]
    )
    torch.manual_seed(0)
    s = contrastive_scores(make, splits.train, splits.meta, cfg, seed=0)
    noisy = torch.as_tensor(splits.train.group_masks("noise")["noisy"])
    assert s[~noisy].mean() > s[noisy].mean() + 1.0
    keep = top_fraction(s, 0.5)
    assert noisy[torch.as_tensor(keep)].float().mean() < 0.2  # of the kept half, few are noisy


def test_weight_warmup_holds_weights_and_weight_net_still_moves_theta():
    torch.manual_seed(0)
    model = build_model("mlp", (4,), 3, {"hidden": [8]})
    net = default_weight_net(model.feature_dim + 3 + 1, 8)
    phi0 = [p.detach().clone() for p in net.parameters()]
    theta0 = [p.detach().clone() for p in model.parameters()]
    sampler = BADSSampler(model, 10, 2, prior=truncated_normal(0.5, 1.0), weight_net=net,
                          weight_warmup=3)  # fmt: skip
    batch = (torch.randn(10, 4), torch.randint(0, 3, (10,)), torch.arange(10))
    meta = (torch.randn(2, 4), torch.tensor([0, 1]), torch.arange(2))
    for _ in range(3):
        sampler.step(batch, meta)
    assert torch.equal(sampler.w, torch.full((10,), 0.5))
    assert all(torch.equal(a, b) for a, b in zip(phi0, net.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(theta0, model.parameters(), strict=True))
    sampler.step(batch, meta)  # warm-up over: φ and the weights move
    assert not all(torch.equal(a, b) for a, b in zip(phi0, net.parameters(), strict=True))
    assert not torch.equal(sampler.w, torch.full((10,), 0.5))


@pytest.mark.parametrize(
    "key", ["contrastive.base_steps=0", "blo.inner_lr=0", "bads.rho_phi=-1",
            "bads.weight_net_warmup=-2", "classact.base_steps=-1", "classact.l2=-0.1",
            "classact.max_iter=0"],
)  # fmt: skip
def test_bad_baseline_settings_are_rejected(key):
    from bayes_dps.errors import ConfigError

    with pytest.raises(ConfigError, match=key.split("=")[0]):
        load_config(DENOISE, [key], BADS_DEFAULTS)


def test_classact_classifier_equals_sklearns_weighted_logistic_regression():
    """The same objective as sklearn's: per-point weights 1/|D_m| and 1/|D_t|, C = 1/(2λ)."""
    from sklearn.linear_model import LogisticRegression

    g = torch.Generator().manual_seed(0)
    curated = torch.randn(30, 4, generator=g) + torch.tensor([1.0, 0.0, -0.5, 0.0])
    uncurated = torch.randn(400, 4, generator=g) * 1.5
    l2 = 0.01
    got = curated_probability(curated, uncurated, l2=l2, max_iter=500)
    both = torch.cat([curated, uncurated]).double()
    z = ((both - both.mean(0)) / both.std(0)).numpy()
    label = [1] * 30 + [0] * 400
    weight = [1 / 30] * 30 + [1 / 400] * 400
    ref = LogisticRegression(C=1 / (2 * l2), tol=1e-12, max_iter=10_000)
    ref.fit(z, label, sample_weight=weight)
    want = torch.as_tensor(ref.predict_proba(z[30:])[:, 1], dtype=torch.float32)
    assert torch.allclose(got, want, atol=2e-4)


def test_classact_mean_one_scale_keeps_the_ranking_and_mixings_loss_scale():
    """``classact.scale = mean_one``: the probabilities divided by their mean over ``D_t`` —
    proportional to ``probability``'s weights, mean 1 (separable sets: every probability near
    0, the rescaled weights not)."""
    g = torch.Generator().manual_seed(0)
    meta = torch.randn(20, 8, generator=g) + 2.0
    train = torch.cat([torch.randn(150, 8, generator=g), torch.randn(50, 8, generator=g) + 2.0])
    features = lambda model, data: data  # noqa: E731
    cfg = {"classact": {"base_steps": 0, "l2": 1e-3, "max_iter": 200, "scale": "probability"}}
    p = classact_weights(lambda: torch.nn.Identity(), train, meta, cfg, seed=0, features=features)
    cfg["classact"]["scale"] = "mean_one"
    w = classact_weights(lambda: torch.nn.Identity(), train, meta, cfg, seed=0, features=features)
    assert p[:150].mean() < 0.05 and p.mean() < 0.3  # most of D_t told apart from D_m
    assert w.mean().item() == pytest.approx(1.0, rel=1e-5)
    assert torch.allclose(w * p.mean(), p, rtol=1e-5)
    assert w[150:].mean() > 3 * w[:150].mean()  # the curated-looking part stays up


def test_classact_weights_find_off_domain_inputs_and_weight_the_loss():
    from bayes_dps.data.batches import BatchStream
    from bayes_dps.training.epoch import MinibatchEpoch

    cfg, splits, make = digits_problem(
        ROOT / "experiments" / "configs" / "digits_domain.yaml", ["classact.base_steps=100"]
    )
    torch.manual_seed(0)
    w = classact_weights(make, splits.train, splits.meta, cfg, seed=0)
    off = torch.as_tensor(splits.train.group_masks("domain")["off_domain"])
    assert w[off].mean() < 0.1 < 0.25 < w[~off].mean()
    # the weights reach the loss: a step with weights w equals one on the w-weighted mean
    torch.manual_seed(1)
    model = make()
    twin = copy.deepcopy(model)
    stream = BatchStream(splits.train, 64, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    MinibatchEpoch(model, opt, stream, steps=1, weights=w).run_epoch(0)
    x, y, idx = next(iter(stream.cycle(0)))
    loss = (F.cross_entropy(twin(x), y, reduction="none") * w[idx]).mean()
    loss.backward()
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.allclose(p, q.detach() - 0.1 * q.grad, atol=1e-6)
