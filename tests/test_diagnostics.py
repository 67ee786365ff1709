"""Plots (lines/bars per input), results tables and `bayes-dps report` on real run folders,
including folders with files missing or broken."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from bayes_dps.cli import main
from bayes_dps.diagnostics.plots import (
    plot_bads_curves,
    plot_group_weights,
    plot_online_curves,
    plot_weight_histograms,
    plot_weight_trace,
)
from bayes_dps.inference.inference_data import weights_to_inference_data

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "experiments" / "configs"
FAST = ["--quiet", "--set", "device=cpu", "--set", "checkpoint=false", "--set", "seeds=[0, 1]"]


def fake_idata(chains=2, draws=16, groups=("clean", "noisy", "clean", "noisy", "clean")):
    rng = np.random.default_rng(0)
    traces = [rng.uniform(size=(draws, len(groups))) for _ in range(chains)]
    stats = [{"lp": rng.normal(size=draws).tolist()} for _ in range(chains)]
    return weights_to_inference_data(
        traces, np.arange(len(groups)), np.array(groups), thin=2, sample_stats=stats
    )


def test_weight_histogram_has_one_bar_set_per_group():
    fig = plot_weight_histograms(fake_idata())
    ax = fig.axes[0]
    assert len(ax.containers) == 2
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title() and ax.get_legend()


@pytest.mark.parametrize("kind", ["trace", "rank"])
def test_trace_and_rank_plots_show_the_chosen_instances(kind):
    idata = fake_idata(chains=3)
    fig = plot_weight_trace(idata, [0, 1], kind=kind)
    axes = [a for a in fig.axes if a.get_visible()]
    assert len(axes) == (4 if kind == "trace" else 2)
    for ax in axes:
        assert ax.get_xlabel() and ax.get_legend() is not None
    if kind == "trace":
        assert len(axes[1].get_lines()) == 3  # one per chain
    with pytest.raises(ValueError, match="trace"):
        plot_weight_trace(idata, [0], kind="pair")


@pytest.fixture(scope="module")
def bads_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bads") / "run"
    args = ["bads", "--config", str(CONFIGS / "digits_denoise.yaml"), "--out", str(out), *FAST]
    for s in ("steps=40", "eval_every=20", "bads.s_avg=20", "bads.thin=2",
              "methods=[mixing, bads]"):  # fmt: skip
        args += ["--set", s]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def online_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("online") / "run"
    args = ["online", "--config", str(CONFIGS / "digits_noisy.yaml"), "--out", str(out), *FAST]
    args += ["--set", "epochs=2", "--set", "methods=[uniform, train_loss]"]
    assert main(args) == 0
    return out


def test_bads_plots_count_lines(bads_run):
    results = json.loads((bads_run / "results.json").read_text())
    assert len(plot_bads_curves(results).axes[0].get_lines()) == 2  # mixing, bads
    weights = plot_group_weights(results)
    assert len(weights.axes) == 1 and len(weights.axes[0].get_lines()) == 2  # clean, noisy


def test_online_curves_have_a_line_per_method_and_target(online_run):
    results = json.loads((online_run / "results.json").read_text())
    ax = plot_online_curves(results).axes[0]
    assert len(ax.get_lines()) == 2 + len(results["config"]["targets"])


def test_report_on_a_bads_run(bads_run, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(bads_run, run)
    for png in run.glob("*.png"):
        png.unlink()
    assert main(["report", str(run)]) == 0
    text = (run / "report.md").read_text()
    assert "| bads |" in text and "| mixing |" in text and "clean" in text
    assert "R-hat over instances" in text and "Missing" not in text
    for name in ("curves.png", "weights.png", "posterior_hist.png", "posterior_trace.png",
                 "posterior_rank.png"):  # fmt: skip
        assert (run / name).is_file() and f"]({name})" in text


def test_report_on_an_online_run(online_run):
    assert main(["report", str(online_run)]) == 0
    text = (online_run / "report.md").read_text()
    assert "online selection" in text and "| uniform |" in text and "| train_loss |" in text
    assert "epochs to 0.90" in text and "](selection.png)" in text


def test_report_names_what_is_missing(bads_run, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty)]) == 0
    assert "`results.json` is missing" in (empty / "report.md").read_text()
    assert "results.json" in capsys.readouterr().out

    broken = tmp_path / "broken"
    shutil.copytree(bads_run, broken)
    (broken / "posterior.nc").write_bytes(b"not netcdf")
    assert main(["report", str(broken)]) == 0
    text = (broken / "report.md").read_text()
    assert "`posterior.nc` could not be opened" in text and "| bads |" in text

    no_post = tmp_path / "no_post"
    shutil.copytree(bads_run, no_post)
    (no_post / "posterior.nc").unlink()
    assert main(["report", str(no_post)]) == 0
    assert "no `posterior*.nc`" in (no_post / "report.md").read_text()

    assert main(["report", str(tmp_path / "nope")]) == 2
