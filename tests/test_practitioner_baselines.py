"""The practitioner baselines — confident learning (cleanlab), class-balanced weights and
resampling, Meta-Weight-Net — each against an independent reference, and run end to end on
an ``.npz`` dataset with their set-up seconds recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import write_npz
from torch import nn

from bayes_dps.cli import main
from bayes_dps.data.class_balance import ClassBalancedStream, class_weights, point_weights
from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.errors import ConfigError
from bayes_dps.methods.bads.mwn import MetaWeightNet, meta_loss
from bayes_dps.methods.confident_learning import (
    find_label_issues,
    out_of_fold_probabilities,
    stratified_folds,
)
from bayes_dps.models.registry import build_model
from bayes_dps.training.fit import fit_classifier


# ------------------------------------------------------------------ class balance
def test_inverse_class_weights_are_the_inverse_frequencies_with_mean_one():
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    w = class_weights(y, 4)
    counts = np.array([60, 30, 10])
    expected = (1 / counts) / np.mean(1 / counts[y])
    np.testing.assert_allclose(w[:3], expected)
    assert w[3] == 0.0  # a class without training points
    np.testing.assert_allclose(w[y].mean(), 1.0)
    # every class carries the same total weight
    np.testing.assert_allclose(w[:3] * counts, np.full(3, w[0] * 60))


def test_effective_number_weights_follow_cui_et_al():
    y = np.array([0] * 200 + [1] * 20)
    beta = 0.99
    w = class_weights(y, 2, "effective", beta)
    eff = (1 - beta ** np.array([200, 20])) / (1 - beta)  # effective numbers E_n
    np.testing.assert_allclose(w[0] / w[1], eff[1] / eff[0])
    np.testing.assert_allclose(class_weights(y, 2, "effective", 0.0), [1.0, 1.0])


def test_bad_class_balance_settings_name_the_key():
    with pytest.raises(ConfigError, match=r"class_balance\.scheme"):
        class_weights(np.array([0, 1]), 2, "sqrt")
    with pytest.raises(ConfigError, match=r"class_balance\.beta"):
        class_weights(np.array([0, 1]), 2, "effective", 1.0)


def test_class_balanced_stream_draws_every_class_equally_and_repeats_on_resume():
    y = np.array([0] * 300 + [1] * 30 + [2] * 6)
    data = IndexedDataset(torch.zeros(len(y), 2), y, num_classes=3)
    stream = ClassBalancedStream(data, 16, seed=3)
    drawn = np.concatenate([data.targets[torch.cat(stream.index_batches(e))] for e in range(40)])
    share = np.bincount(drawn, minlength=3) / len(drawn)
    np.testing.assert_allclose(share, [1 / 3] * 3, atol=0.02)
    again = ClassBalancedStream(data, 16, seed=3)
    for e in (0, 7):
        for a, b in zip(stream.index_batches(e), again.index_batches(e), strict=True):
            assert torch.equal(a, b)
    assert not torch.equal(stream.index_batches(0)[0], stream.index_batches(1)[0])
    np.testing.assert_allclose(point_weights(y, 3).mean(), 1.0, rtol=1e-6)


# ------------------------------------------------------------ confident learning
def blobs(n_per_class=150, k=3, d=8, noise=0.2, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, size=(k, d))
    y = np.repeat(np.arange(k), n_per_class)
    x = centers[y] + rng.normal(0, 1, size=(len(y), d))
    data = IndexedDataset(torch.as_tensor(x, dtype=torch.float32), y, num_classes=k)
    flip = rng.choice(len(y), round(noise * len(y)), replace=False)
    noisy = y.copy()
    noisy[flip] = (noisy[flip] + rng.integers(1, k, size=len(flip))) % k
    return data.with_targets(noisy)


def fit_mlp(data, fold):
    spec = {"epochs": 15, "batch_size": 32, "seed": fold}
    return fit_classifier(data, spec, model_name="mlp", model_options={"hidden": [32]})


def test_confident_learning_finds_planted_label_noise_at_high_precision():
    data = blobs()
    found = find_label_issues(data, fit_mlp, folds=4, seed=0)
    truth = data.is_noisy
    precision = (found.issues & truth).sum() / max(found.issues.sum(), 1)
    recall = (found.issues & truth).sum() / truth.sum()
    assert precision >= 0.9, precision
    assert recall >= 0.7, recall
    np.testing.assert_array_equal(found.keep, np.flatnonzero(~found.issues))


def test_out_of_fold_probabilities_never_come_from_a_model_that_saw_the_point():
    data = blobs(n_per_class=20)
    seen = []

    def fit(part, fold):
        seen.append({tuple(r) for r in part.inputs.numpy().round(5).tolist()})
        return fit_mlp(part, fold)

    folds = stratified_folds(data.targets, 4, seed=1)
    out_of_fold_probabilities(data, fit, folds=4, seed=1)
    rows = [tuple(r) for r in data.inputs.numpy().round(5).tolist()]
    for f in range(4):
        held = {rows[i] for i in np.flatnonzero(folds == f)}
        assert not held & seen[f], f"fold {f}'s model saw points it predicts"
        assert len(seen[f]) == len(data) - len(held)
    # folds are stratified: every class spread over every fold within one point
    for c in range(3):
        per_fold = np.bincount(folds[data.targets == c], minlength=4)
        assert per_fold.max() - per_fold.min() <= 1


# ------------------------------------------------------------------ Meta-Weight-Net
def test_mwn_meta_gradient_matches_a_finite_difference():
    torch.manual_seed(0)
    model = build_model("mlp", (5,), 3, {"hidden": [7]}).double()
    vnet = MetaWeightNet(hidden=6).double()
    x_t, y_t = torch.randn(12, 5, dtype=torch.float64), torch.randint(0, 3, (12,))
    x_m, y_m = torch.randn(6, 5, dtype=torch.float64), torch.randint(0, 3, (6,))
    lr = 0.5
    loss = meta_loss(model, vnet, x_t, y_t, x_m, y_m, lr)
    grads = torch.autograd.grad(loss, list(vnet.parameters()))
    assert all(p.grad is None for p in model.parameters())  # θ itself is not moved
    h = 1e-6
    for p, g in zip(vnet.parameters(), grads, strict=True):
        for i in range(min(p.numel(), 4)):
            flat = p.data.view(-1)
            old = flat[i].item()
            flat[i] = old + h
            up = meta_loss(model, vnet, x_t, y_t, x_m, y_m, lr).item()
            flat[i] = old - h
            down = meta_loss(model, vnet, x_t, y_t, x_m, y_m, lr).item()
            flat[i] = old
            fd = (up - down) / (2 * h)
            assert abs(fd - g.view(-1)[i].item()) < 1e-6 * max(1.0, abs(fd)), (p.shape, i)
    # the look-ahead is what couples φ to the meta loss: without it the gradient is 0
    zero = meta_loss(model, vnet, x_t, y_t, x_m, y_m, 0.0)
    assert all(
        float(g.abs().max()) == 0.0
        for g in torch.autograd.grad(zero, list(vnet.parameters()), allow_unused=True)
        if g is not None
    )


def test_mwn_learns_to_down_weight_high_loss_points_under_label_noise():
    """Under heavy label noise the noisy points are the high-loss ones once the network has
    learnt the clean structure: V should give them lower weight than the clean points."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    data = blobs(n_per_class=100, noise=0.4, seed=2)
    clean = blobs(n_per_class=10, noise=0.0, seed=2)
    model = build_model("mlp", (8,), 3, {"hidden": [32]})
    vnet = MetaWeightNet(hidden=16)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    vopt = torch.optim.Adam(vnet.parameters(), lr=1e-2)
    x, y = data.inputs, torch.as_tensor(data.targets)
    xm, ym = clean.inputs, torch.as_tensor(clean.targets)
    for _ in range(300):
        vopt.zero_grad()
        meta_loss(model, vnet, x, y, xm, ym, 0.1).backward()
        vopt.step()
        opt.zero_grad()
        with torch.no_grad():
            v = vnet(F.cross_entropy(model(x), y, reduction="none"))
        (v * F.cross_entropy(model(x), y, reduction="none")).mean().backward()
        opt.step()
    with torch.no_grad():
        v = vnet(F.cross_entropy(model(x), y, reduction="none")).numpy()
    assert v[data.is_noisy].mean() < v[~data.is_noisy].mean() - 0.1


# ----------------------------------------------------------------- end to end, .npz
def test_practitioner_baselines_run_on_an_npz_dataset_with_their_set_up_seconds(tmp_path):
    k = 3
    path = write_npz(tmp_path / "d.npz", n_train=300, meta=True, k=k)
    out = tmp_path / "bads"
    sets = [f"dataset.path={path}", "steps=150", "eval_every=50", "seeds=[0]", "model=mlp",
            "model_options={hidden: [16]}", "batch_size=16", "meta_batch_size=8",
            "cleanlab.steps=60", "cleanlab.folds=3", "mwn.hidden=8"]  # fmt: skip
    args = ["bads", "--config", "digits_denoise", "--out", str(out), "--quiet"]
    args += ["--set", "dataset.name=npz", "--set", "dataset.noise=0.3", "--set", "device=cpu"]
    args += ["--set", "methods=[cleanlab, class_balanced, resample, mwn]"]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    for m in ("cleanlab", "class_balanced", "resample", "mwn"):
        run = res["methods"][m]["seeds"][0]
        assert run["final_metric"] > 1 / k, m
        assert run["setup_seconds"] >= 0.0
    cl = res["methods"]["cleanlab"]
    # cleanlab's folds are its set-up; class weights cost next to nothing
    balanced = res["methods"]["class_balanced"]["seeds"][0]["setup_seconds"]
    assert cl["seeds"][0]["setup_seconds"] > 10 * balanced
    weights = cl["seeds"][0]["final_group_weights"]
    assert weights["clean"] > weights["noisy"] + 0.3  # flagged labels are mostly the noisy


def test_online_cleanlab_then_uniform_records_set_up_and_end_to_end_seconds(tmp_path):
    path = write_npz(tmp_path / "d.npz", n_train=300, meta=True)
    out = tmp_path / "online"
    args = ["online", "--config", "digits_noisy", "--out", str(out), "--quiet"]
    for s in (f"dataset.path={path}", "dataset.name=npz", "dataset.noise=0.2", "seeds=[0]",
              "methods=[uniform, rho_loss, cleanlab]", "epochs=3", "n_B=64", "n_b=16",
              "targets=[0.3]", "device=cpu", "model_options={hidden: [16]}", "holdout.epochs=3",
              "cleanlab.steps=40", "cleanlab.folds=3", "dataset.meta_per_class=0"):  # fmt: skip
        args += ["--set", s]
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    uni, rho, cl = (res["methods"][m]["seeds"][0] for m in ("uniform", "rho_loss", "cleanlab"))
    assert uni["setup_seconds"] == 0.0
    assert rho["setup_seconds"] > 0.0 and cl["setup_seconds"] > 0.0
    for run in (uni, rho, cl):
        s, e = run["seconds_to_target"]["0.30"], run["end_to_end_seconds_to_target"]["0.30"]
        assert (s is None and e is None) or e == pytest.approx(s + run["setup_seconds"])
    assert cl["selected_noisy_fraction"] < uni["selected_noisy_fraction"]
    dropped = cl["data_filter"]
    assert dropped["train"] == 300 and 0 < dropped["flagged_noisy"] <= dropped["flagged"]
    assert "end_to_end_seconds_to_target" in res["methods"]["cleanlab"]["summary"]


def test_mwn_refuses_torch_distributed(monkeypatch):
    from bayes_dps import distributed as dist
    from bayes_dps.methods.bads import mwn

    monkeypatch.setattr(dist, "world_size", lambda: 2)
    with pytest.raises(ConfigError, match="mwn runs on one process"):
        mwn.MWNBlock(nn.Linear(1, 1), None, None, None, 1, inner_lr=0.1, meta_lr=0.1,
                     hidden=2, recorder=None, masks={})  # fmt: skip
