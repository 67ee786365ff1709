"""The library in a hand-written loop: OnlineSelector and BADSSampler, their ArviZ export."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bayes_dps.diagnostics.arviz_export import arviz
from bayes_dps.errors import ConfigError
from bayes_dps.inference.bads import BADSSampler
from bayes_dps.methods.online.loop import OnlineSelectionEpoch
from bayes_dps.models import build_model
from bayes_dps.models.priors import truncated_normal
from bayes_dps.selection.predictors.base import ModelPredictor
from bayes_dps.selection.registry import RULES
from bayes_dps.selection.selector import OnlineSelector


def problem(seed=0, n=64, d=6, k=3):
    torch.manual_seed(seed)
    x, y = torch.randn(n, d), torch.randint(0, k, (n,))
    model = build_model("mlp", (d,), k, {"hidden": [16]})
    val = build_model("mlp", (d,), k, {"hidden": [8]})
    return model, ModelPredictor(val), x, y, torch.arange(n)


def test_hand_written_loop_equals_the_package_loop():
    """Two steps of a user loop with OnlineSelector == OnlineSelectionEpoch.step: same chosen
    points, same parameters, same KFAC factors."""
    results = []
    for use_epoch in (False, True):
        model, pred, x, y, idx = problem()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        selector = OnlineSelector(model, "bayesian", pred, alpha=0.3, n_e=100, num_samples=20)
        chosen = []
        if use_epoch:
            epoch = OnlineSelectionEpoch(model, opt, stream=_Stream(), rule=selector.rule, n_b=8)
            for _ in range(2):
                c, _ = epoch.step(x, y, idx)
                chosen.append(c.idx.tolist())
        else:
            for _ in range(2):
                sel = selector.select(x, y, idx, n_b=8)
                model.train()
                logits, feats = model.forward_with_features(x[sel.positions])
                loss = F.cross_entropy(logits, y[sel.positions])
                opt.zero_grad()
                loss.backward()
                opt.step()
                selector.update(x, y, idx, sel, logits=logits, features=feats)
                chosen.append(idx[sel.positions].tolist())
        post = selector.rule.posterior
        results.append((chosen, [p.detach().clone() for p in model.parameters()], post.A, post.G))
    (c0, p0, a0, g0), (c1, p1, a1, g1) = results
    assert c0 == c1
    assert all(torch.allclose(a, b) for a, b in zip(p0, p1, strict=True))
    assert torch.allclose(a0, a1) and torch.allclose(g0, g1)


class _Stream:  # OnlineSelectionEpoch needs only its length, .dataset and .device for step()
    device = torch.device("cpu")

    def __len__(self):
        return 1

    class dataset:
        def __len__(self):
            return 64

    dataset = dataset()


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_rule_has_the_same_interface(rule):
    model, pred, x, y, idx = problem()
    selector = OnlineSelector(model, rule, pred)
    sel = selector.select(x, y, idx, n_b=10)
    assert len(sel.positions) == 10 and sel.positions.device == x.device
    assert sel.weights is None or sel.weights.shape == (10,)
    selector.update(x, y, idx, sel)  # recomputes logits/features when not given


def test_selector_errors_name_the_problem():
    model, pred, *_ = problem()
    with pytest.raises(ConfigError, match="unknown rule 'bayes'"):
        OnlineSelector(model, "bayes", pred)
    with pytest.raises(ConfigError, match="needs a zero_shot predictor"):
        OnlineSelector(model, "bayesian")
    with pytest.raises(ConfigError, match="alpah"):
        OnlineSelector(model, "bayesian", pred, alpah=0.3)
    with pytest.raises(ConfigError, match="forward_with_features"):
        OnlineSelector(torch.nn.Linear(3, 2), "uniform")


def run_sampler(seed, steps=60, average_from=30, thin=3):
    torch.manual_seed(seed)
    model = build_model("mlp", (4,), 3, {"hidden": [8]})
    x, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    xm, ym = torch.randn(6, 4), torch.randint(0, 3, (6,))
    sampler = BADSSampler(
        model, 40, 6, prior=truncated_normal(0.5, 1.0), rho_w=2.0, eta_w=0.1,
        average_from=average_from, thin=thin,
    )  # fmt: skip
    seen = []
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        b = torch.randperm(40, generator=g)[:10]
        sampler.step((x[b], y[b], b), (xm, ym, torch.arange(6)))
        seen.append(sampler.w.clone())
    return sampler, seen


def test_sampler_weights_selection_and_inference_data():
    sampler, seen = run_sampler(0)
    assert torch.allclose(sampler.weights, torch.stack(seen[30:]).mean(0), atol=1e-6)
    top = sampler.selected(0.25)
    assert len(top) == 10 and top == sorted(top)
    assert set(top) == set(torch.topk(sampler.weights, 10).indices.tolist())
    assert sampler.selected(threshold=0.0) == list(range(40))
    with pytest.raises(ConfigError, match="exactly one"):
        sampler.selected(0.5, threshold=0.1)
    groups = np.array(["a", "b"] * 20)
    idata = sampler.to_inference_data(groups=groups)
    assert set(idata.groups()) >= {"posterior", "sample_stats", "constant_data"}
    w = idata.posterior["w"]
    assert w.dims == ("chain", "draw", "instance") and w.shape == (1, 20, 40)
    assert w.coords["draw"].values.tolist() == list(range(0, 60, 3))
    np.testing.assert_allclose(w.values[0, 1], seen[3].numpy(), atol=1e-6)
    assert set(idata.sample_stats) == {"lp", "step_size"}
    assert np.isfinite(idata.sample_stats["lp"].values).all()
    assert idata.constant_data["group"].values.tolist() == groups.tolist()


def test_several_chains_give_rhat_and_ess():
    from bayes_dps.inference.inference_data import weights_to_inference_data

    chains = [run_sampler(s)[0].recorder for s in (0, 1, 2)]
    idata = weights_to_inference_data(
        [np.stack(r.trace) for r in chains],
        chains[0].instances,
        np.array(["a", "b"] * 20),
        thin=3,
        sample_stats=[r.stats for r in chains],
    )
    az = arviz()
    assert idata.posterior["w"].shape == (3, 20, 40)
    assert idata.sample_stats["lp"].shape == (3, 20)
    summary = az.summary(idata, var_names=["w"], coords={"instance": [0, 1, 2]})
    assert np.isfinite(summary["r_hat"]).all() and np.isfinite(summary["ess_bulk"]).all()
    assert np.isfinite(az.rhat(idata)["w"].values).all()


def test_resume_restores_the_trace():
    a, _ = run_sampler(0, steps=20)
    b, _ = run_sampler(1, steps=5)
    b.load_state_dict(a.state_dict())
    assert b.num_steps == 20 and len(b.recorder.trace) == len(a.recorder.trace)
    assert b.recorder.stats == a.recorder.stats
