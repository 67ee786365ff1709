"""The predictor check of online selection: calibration metrics against a brute-force
computation, cross-fitting that never scores a point with a model trained on it, the z-test,
the fall-back to uniform (and its resume), and the warning on a weak and a strong predictor."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from bayes_dps.config import ONLINE_DEFAULTS, load_config
from bayes_dps.configs import resolve
from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.data.splits import stratified_folds
from bayes_dps.methods.online import run_online_experiment
from bayes_dps.methods.online.predictor_check import PredictorCheck, cross_fitted_quality
from bayes_dps.selection.uniform import UniformSelection
from bayes_dps.tasks.metrics import calibration, reliability


def _random_predictions(seed: int, n: int, k: int, scale: float):
    """``(logits, labels, softmax probabilities)`` drawn at random (numpy)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * scale
    y = rng.integers(0, k, n)
    return logits, y, np.exp(logits) / np.exp(logits).sum(1, keepdims=True)


def test_calibration_equals_a_hand_computation():
    logits, y, p = _random_predictions(0, 200, 4, 2.0)
    conf, pred = p.max(1), p.argmax(1)
    ece = 0.0
    for b in range(15):
        inside = (conf >= b / 15) & (conf < (b + 1) / 15)
        if inside.any():
            ece += inside.mean() * abs((pred[inside] == y[inside]).mean() - conf[inside].mean())
    got = calibration(torch.tensor(logits), torch.tensor(y))
    assert got["nll"] == pytest.approx(-np.log(p[np.arange(200), y]).mean(), rel=1e-9)
    assert got["acc"] == pytest.approx((pred == y).mean())
    assert got["ece"] == pytest.approx(ece, rel=1e-9)


def test_reliability_diagram_equals_a_hand_computation():
    logits, y, p = _random_predictions(1, 300, 3, 1.5)
    conf, pred = p.max(1), p.argmax(1)
    got = reliability(torch.tensor(logits), torch.tensor(y), bins=10)
    for b in range(10):
        inside = (conf >= b / 10) & (conf < (b + 1) / 10)
        assert got["count"][b] == inside.sum()
        if inside.any():
            assert got["confidence"][b] == pytest.approx(conf[inside].mean(), rel=1e-9)
            assert got["accuracy"][b] == pytest.approx((pred[inside] == y[inside]).mean())
        else:
            assert got["confidence"][b] is None and got["accuracy"][b] is None
    counts = np.array(got["count"])  # ECE is the count-weighted gap of the diagram
    gaps = [0 if n == 0 else abs(a - c) for n, a, c in
            zip(counts, got["accuracy"], got["confidence"], strict=True)]  # fmt: skip
    ece = calibration(torch.tensor(logits), torch.tensor(y), bins=10)["ece"]
    assert (counts * gaps).sum() / counts.sum() == pytest.approx(ece, rel=1e-9)


def test_folds_deal_every_class_over_every_fold():
    y = np.repeat(np.arange(3), [10, 7, 25])
    folds = stratified_folds(y, 5, np.random.default_rng(1))
    for c in range(3):
        counts = np.bincount(folds[y == c], minlength=5)
        assert counts.max() - counts.min() <= 1


class Memoriser(nn.Module):
    """Knows the label of every input it was fitted on; predicts class 0 elsewhere."""

    def __init__(self, data: IndexedDataset) -> None:
        super().__init__()
        self.table = {float(x[0]): int(y) for x, y, _ in data}
        self.k = data.num_classes

    def forward(self, x):
        out = torch.zeros(len(x), self.k)
        for i, v in enumerate(x[:, 0].tolist()):
            out[i, self.table.get(v, 0)] = 10.0
        return out


def test_cross_fitting_scores_each_point_with_a_model_that_never_saw_it():
    y = np.tile(np.arange(4), 25)
    data = IndexedDataset(torch.arange(100.0)[:, None], y, num_classes=4)
    q = cross_fitted_quality(data, Memoriser, torch.device("cpu"))
    # in-sample the memoriser is perfect; out of fold it says class 0, right a quarter of the time
    assert q["acc"] == pytest.approx(0.25)


def _check(pred_acc, n=100, **kw):
    meta = IndexedDataset(torch.zeros(n, 2), np.zeros(n, int), num_classes=2)
    quality = {"acc": pred_acc, "nll": 1.0, "ece": 0.0}
    return PredictorCheck(
        meta, quality, UniformSelection(0), torch.device("cpu"), log=lambda m: None, **kw
    )


def test_the_z_test_measures_the_gap_in_standard_errors():
    # n = 100, accuracies 0.5 / 0.3: gap 0.2, SE √((0.25 + 0.21)/100) = 0.0678
    assert _check(0.3).gap_in_se(0.5) == pytest.approx(0.2 / 0.06782, rel=1e-3)
    assert _check(0.5).gap_in_se(0.3) == pytest.approx(-0.2 / 0.06782, rel=1e-3)
    assert _check(0.4).gap_in_se(0.4) == 0.0


def _constant(acc_class: int) -> nn.Module:
    """A model that always says ``acc_class`` (accuracy 1 on ``_check``'s all-zero labels when
    ``acc_class`` is 0, else 0)."""
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([1.0, 0.0] if acc_class == 0 else [0.0, 1.0]))
    return model


def test_the_check_fires_only_within_its_window_and_only_for_a_clear_gap():
    check = _check(0.5, epochs=8, window=0.25)  # epochs 1 and 2 are tested
    assert check.after_epoch(_constant(1), 0)["decided_at_epoch"] is None  # model worse
    record = check.after_epoch(_constant(0), 1)
    assert record["fired_at_epoch"] == 2 and record["better_judge"] == "model" and check.switched
    late = _check(0.5, epochs=8, window=0.25)
    late.after_epoch(_constant(1), 0)
    late.after_epoch(_constant(1), 1)
    record = late.after_epoch(_constant(0), 2)  # past the window: the predictor is kept
    assert record["better_judge"] == "predictor" and record["fired_at_epoch"] is None
    assert late.after_epoch(_constant(0), 3)["fired_at_epoch"] is None and not late.switched
    close = _check(0.97, n=20)  # 1.0 vs 0.97 on 20 points: no clear gap
    assert close.after_epoch(_constant(0), 0)["fired_at_epoch"] is None


def _run(tmp_path, meta_per_class, name, **extra):
    sets = [f"dataset.meta_per_class={meta_per_class}", "methods=[bayesian]", "seeds=[0]",
            "epochs=4", "holdout.epochs=20", "predictor_check.window=0.75", "device=cpu",
            "progress=false", "checkpoint=false", "holdout.cache=false",
            *[f"{k}={v}" for k, v in extra.items()]]  # fmt: skip
    cfg = load_config(resolve("digits_noisy"), sets, ONLINE_DEFAULTS)
    logs: list[str] = []
    out = tmp_path / name
    results = run_online_experiment(cfg, out, log=logs.append)
    return results["methods"]["bayesian"]["seeds"][0], logs, out


@pytest.fixture(scope="module")
def weak(tmp_path_factory):
    """A run whose 20-point curated set makes a weak predictor: the check fires."""
    return _run(tmp_path_factory.mktemp("weak"), 2, "weak")


def test_a_weak_predictor_warns_and_falls_back_to_uniform(weak):
    run, logs, out = weak
    fired = run["predictor_check_fired_at_epoch"]
    assert fired is not None and fired < 4
    assert any(m.startswith(f"warning: after epoch {fired}") and "selecting uniformly" in m
               for m in logs)  # fmt: skip
    saved = json.loads((out / "results.json").read_text())
    record = saved["methods"]["bayesian"]["seeds"][0]["predictor_check"]
    assert len(record) == 4 and record[-1]["better_judge"] == "model"
    assert record[0]["predictor"]["acc"] < 0.3  # 20 points, 5 folds: a weak judge


def test_a_strong_predictor_keeps_the_rule(tmp_path):
    run, logs, _ = _run(tmp_path, 20, "strong")
    assert run["predictor_check_fired_at_epoch"] is None
    assert run["predictor_check"][-1]["better_judge"] == "predictor"
    assert not any(m.startswith("warning") for m in logs)
    assert run["predictor_check"][-1]["predictor"]["acc"] > 0.8


def test_the_loop_selects_with_the_fallback_once_fired_and_after_a_resume():
    from bayes_dps.data.batches import BatchStream
    from bayes_dps.methods.online.loop import OnlineSelectionEpoch
    from bayes_dps.models import build_model
    from bayes_dps.selection.loss_based import TrainLossSelection

    torch.manual_seed(0)
    data = IndexedDataset(torch.randn(64, 3), np.arange(64) % 2, num_classes=2)

    def epoch_step(check):
        model = build_model("mlp", (3,), 2, {"hidden": [4]})
        stream = BatchStream(data, 16, seed=0)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        return OnlineSelectionEpoch(model, opt, stream, TrainLossSelection(), 4, check=check)

    check = _check(0.0, n=64)  # any model beats a predictor that is never right
    check.meta = data
    step = epoch_step(check)
    first = step.run_epoch(0)
    assert first["predictor_check"]["fired_at_epoch"] == 1
    assert step.selector.rule is check.fallback
    state = step.state_dict()
    again = _check(0.0, n=64)
    resumed = epoch_step(again)
    assert resumed.selector.rule is not again.fallback
    resumed.load_state_dict(state)
    assert resumed.selector.rule is again.fallback and again.decided == (0, "model")


def test_score_terms_are_recorded_per_epoch_and_null_after_the_fallback(weak):
    run, _, _ = weak
    terms = run["score_terms"]
    fired = run["predictor_check_fired_at_epoch"]
    assert len(terms) == 4 and set(terms[0]) == {"model", "predictor", "log_predictive"}
    assert all(t is None for t in terms[fired:]) and all(t for t in terms[:fired])


def test_the_cross_fitted_quality_is_cached_with_the_holdout_model(tmp_path, monkeypatch):
    from bayes_dps.data import load_data
    from bayes_dps.methods.online import predictor_factory as pf

    sets = ["dataset.meta_per_class=5", "holdout.epochs=2", "device=cpu"]
    cfg = load_config(resolve("digits_noisy"), sets, ONLINE_DEFAULTS)
    splits = load_data(cfg["dataset"])
    first = pf.PredictorFactory(cfg, splits, torch.device("cpu"), tmp_path, log=lambda m: None)
    q = first.quality("zero_shot")
    assert len(list(tmp_path.glob("holdout-crossfit-*.json"))) == 1

    def refit(*a, **k):
        raise AssertionError("the cached estimate was not reused")

    monkeypatch.setattr(pf, "cross_fitted_quality", refit)
    again = pf.PredictorFactory(cfg, splits, torch.device("cpu"), tmp_path, log=lambda m: None)
    assert again.quality("holdout") == q


def test_picks_per_epoch_add_up_to_the_run_fractions(weak):
    run, _, _ = weak
    for key in ("noisy", "redundant"):
        per_epoch = run[f"selected_{key}_per_epoch"]
        assert len(per_epoch) == 4 and all(0 <= v <= 1 for v in per_epoch)
        # every epoch selects as many points, so the run's share is the epochs' mean
        assert np.mean(per_epoch) == pytest.approx(run[f"selected_{key}_fraction"])


def test_the_diagnosis_figure_draws_what_the_run_recorded(weak):
    from bayes_dps.cli import main
    from bayes_dps.diagnostics.predictor_plots import plot_predictor_diagnosis

    run, _, out = weak
    results = json.loads((out / "results.json").read_text())
    fig = plot_predictor_diagnosis(results)
    reliab, judges, terms, picks = fig.axes
    diagram = run["predictor_check"][0]["predictor"]["reliability"]
    assert len(reliab.patches) == sum(1 for n in diagram["count"] if n)
    assert sum(int(t.get_text()) for t in reliab.texts) == 20  # every curated point, once
    fired = run["predictor_check_fired_at_epoch"]
    assert [line.get_xdata()[0] for line in judges.get_lines() if line.get_linestyle() == ":"] == [
        fired
    ]
    model_curve = judges.get_lines()[0].get_ydata()
    assert np.allclose(model_curve, [e["model"]["acc"] for e in run["predictor_check"]])
    assert len(terms.get_lines()) == 4  # three summands and the zero line
    drawn = terms.get_lines()[1].get_ydata()  # the predictor term: none after the fall-back
    assert np.isnan(drawn[fired:]).all() and np.isfinite(drawn[:fired]).all()
    assert np.allclose(picks.get_lines()[0].get_ydata(), run["selected_noisy_per_epoch"])
    empty = {"config": {}, "methods": {"uniform": {"seeds": [{"test_acc": [0.5]}]}}}
    with pytest.raises(ValueError, match=r"predictor_check\.enabled"):
        plot_predictor_diagnosis(empty)
    assert main(["report", str(out)]) == 0
    assert "](predictor.png)" in (out / "report.md").read_text()
    assert (out / "predictor.png").is_file()
