"""Online selection end to end: all methods on noisy digits, sweeps, plots, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import FAST, ROOT

from bayes_dps.cli import main, parse_sweep
from bayes_dps.data import load_data
from bayes_dps.selection.predictors import CachedLogits

NOISY = str(ROOT / "experiments" / "configs" / "digits_noisy.yaml")
ONE_SEED = [*FAST, "--set", "seeds=[0]"]


def test_every_method_runs_and_plots(tmp_path):
    out = tmp_path / "run"
    args = ["online", "--config", NOISY, "--out", str(out), *ONE_SEED]
    args += ["--set", "epochs=2", "--set", "holdout.epochs=5", "--set", "svp.epochs=1"]
    args += ["--set", "cleanlab.steps=20"]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["methods"]) == {
        "uniform",
        "bayesian",
        "rho_loss",
        "rho_loss_zs",
        "train_loss",
        "grad_norm",
        "grad_norm_is",
        "svp",
        "irreducible_loss",
        "cleanlab",
    }
    assert results["predictors"]["holdout"]["test_acc"] > 0.5
    assert (out / "selection.png").stat().st_size > 1000
    # the holdout model and its logit table were built once and cached
    assert len(list((out / "cache").glob("holdout-model-*.pt"))) == 1
    assert len(list((out / "cache").glob("holdout-*.pt"))) == 2


def test_bayesian_avoids_noisy_labels_where_train_loss_seeks_them(tmp_path):
    """A short run already shows the Fig. 1a ordering on 20% label noise."""
    out = tmp_path / "run"
    args = ["online", "--config", NOISY, "--out", str(out), *ONE_SEED, "--set", "epochs=15"]
    args += ["--set", "methods=[uniform, bayesian, train_loss]"]
    assert main(args) == 0
    m = json.loads((out / "results.json").read_text())["methods"]
    frac = {k: v["seeds"][0]["selected_noisy_fraction"] for k, v in m.items()}
    assert frac["bayesian"] < 0.05 < 0.15 < frac["uniform"] < 0.25 < 0.5 < frac["train_loss"]


def test_sweep_writes_one_run_per_value(tmp_path):
    out = tmp_path / "sweep"
    args = ["online", "--config", NOISY, "--out", str(out), *ONE_SEED, "--set", "epochs=2"]
    args += ["--set", "methods=[bayesian]", "--sweep", "bayesian.alpha=0.1,0.4"]
    assert main(args) == 0
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["keys"] == ["bayesian.alpha"]
    assert sweep["values"] == {"bayesian.alpha": [0.1, 0.4]}
    assert set(sweep["runs"]) == {"bayesian.alpha=0.1", "bayesian.alpha=0.4"}
    point = sweep["runs"]["bayesian.alpha=0.4"]
    assert point["folder"] == "bayesian.alpha=0.4" and point["values"] == {"bayesian.alpha": 0.4}
    bayes = point["methods"]["bayesian"]
    assert len(bayes["seeds"][0]["test_acc"]) == 2 and "final_acc" in bayes["summary"]
    cfg = json.loads((out / "bayesian.alpha=0.4" / "results.json").read_text())["config"]
    assert cfg["bayesian"]["alpha"] == 0.4
    assert (out / "sweep.png").is_file()
    assert len(list((out / "cache").glob("holdout-model-*.pt"))) == 1  # shared by all values


def test_parse_sweep():
    assert parse_sweep("bayesian.alpha=0.1,0.2") == ("bayesian.alpha", [0.1, 0.2])
    assert parse_sweep("bayesian.n_e=[100, 1000]") == ("bayesian.n_e", [100, 1000])
    assert parse_sweep("bayesian.alpha=0.3") == ("bayesian.alpha", [0.3])


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["n_b=400"], "n_b=400 exceeds n_B=320"),
        (["bayesian.alpha=1.2"], "bayesian.alpha must be a number in [0, 1], got 1.2"),
        (["bayesian.alpha=-0.1"], "bayesian.alpha must be a number in [0, 1], got -0.1"),
        (["bayesian.num_samples=0"], "bayesian.num_samples must be an integer in [1, 10_000]"),
        (["dataset.meta_per_class=0", "methods=[rho_loss]"], "meta_per_class > 0"),
        (["zero_shot.name=cached", "zero_shot.cache_path={bad_cache}"], "does not match"),
        (["zero_shot.name=cached", "zero_shot.cache_path={wrong_k}"], "7 classes, the dataset 10"),
        (["zero_shot.name=clip"], "zero_shot.name must be one of"),
        (["zero_shot.name=openclip", "zero_shot.checkpoint={tmp}/RN50.pt"], "CLIP checkpoint"),
    ],
)
def test_online_bad_input(tmp_path, capsys, sets, message):
    train = load_data({"name": "digits", "noise": 0.2, "meta_per_class": 20}).train
    bad = tmp_path / "bad.pt"
    CachedLogits(torch.zeros(len(train) - 1, 10), "x").save(bad)  # wrong size
    wrong_k = tmp_path / "k.pt"
    CachedLogits(torch.zeros(len(train), 7), "x").save(wrong_k)
    out = tmp_path / "out"
    args = ["online", "--config", NOISY, "--out", str(out), *ONE_SEED, "--set", "epochs=1"]
    for s in sets:
        args += ["--set", s.format(bad_cache=bad, wrong_k=wrong_k, tmp=tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err
    assert not (out / "results.json").exists()


def test_nan_inputs_stop_with_a_clear_error(tmp_path, capsys):
    path = tmp_path / "nan.npz"
    rng = np.random.default_rng(0)
    # finite inputs whose first layer overflows: inf - inf in the next layer gives NaN logits
    x = (3e38 * np.sign(rng.normal(size=(400, 5)))).astype(np.float32)
    np.savez(
        path,
        x_train=x,
        y_train=rng.integers(0, 3, 400),
        x_test=x[:50],
        y_test=rng.integers(0, 3, 50),
    )
    args = ["online", "--config", NOISY, "--out", str(tmp_path / "o"), *ONE_SEED]
    args += [
        "--set",
        "dataset.name=npz",
        "--set",
        f"dataset.path={path}",
        "--set",
        "methods=[train_loss]",
        "--set",
        "epochs=3",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "NaN" in err or "non-finite" in err
    assert not (tmp_path / "o" / "results.json").exists()


def test_digits_noisy_acceptance(tmp_path):
    """The issue's acceptance run (3 seeds, 60 epochs) for uniform, bayesian and rho_loss."""
    out = tmp_path / "accept"
    args = ["online", "--config", NOISY, "--out", str(out), "--quiet", "--set", "device=cpu"]
    args += ["--set", "checkpoint=false", "--set", "methods=[uniform, bayesian, rho_loss]"]
    assert main(args) == 0
    summary = {
        m: v["summary"]
        for m, v in json.loads((out / "results.json").read_text())["methods"].items()
    }
    uniform_epochs = summary["uniform"]["epochs_to_target"]["0.90"]
    assert uniform_epochs["n"] == 3  # the budget lets uniform itself reach 90%
    for method in ("bayesian", "rho_loss"):
        reached = summary[method]["epochs_to_target"]["0.90"]
        assert reached["n"] == 3 and reached["mean"] <= 0.6 * uniform_epochs["mean"], method
    assert summary["bayesian"]["selected_noisy_fraction"]["mean"] <= 0.05
    assert abs(summary["uniform"]["selected_noisy_fraction"]["mean"] - 0.2) < 0.02
    assert summary["bayesian"]["final_acc"]["mean"] >= summary["uniform"]["final_acc"]["mean"]
