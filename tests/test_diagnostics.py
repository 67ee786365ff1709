"""Plots (lines/bars per input), results tables and `bayes-dps report` on real run folders,
including folders with files missing or broken."""

from __future__ import annotations

import json
import shutil

import matplotlib
import numpy as np
import pytest
from helpers import FAST, ROOT

from bayes_dps.cli import main
from bayes_dps.diagnostics.plots import (
    plot_bads_curves,
    plot_final_weights,
    plot_group_weights,
    plot_online_curves,
    plot_sweep,
    plot_weight_histograms,
    plot_weight_trace,
)
from bayes_dps.inference.inference_data import weights_to_inference_data

matplotlib.use("Agg")
CONFIGS = ROOT / "experiments" / "configs"
TWO_SEEDS = [*FAST, "--set", "seeds=[0, 1]"]


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
    if kind == "trace":
        assert len(axes[1].get_lines()) == 3  # one per chain
        assert axes[-1].get_xlabel() == "training step"  # the draw coordinate is the step
        assert "after warm-up" in axes[-2].get_xlabel()
    with pytest.raises(ValueError, match="trace"):
        plot_weight_trace(idata, [0], kind="pair")


def test_the_trace_plots_legend_covers_no_panel():
    idata = fake_idata(chains=3, draws=16)
    idata.posterior.attrs["warmup_steps"] = 8
    fig = plot_weight_trace(idata, [0, 1, 2])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert not any(ax.get_legend() for ax in fig.axes)  # no legend inside a panel
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "chain 0", "chain 1", "chain 2", "warm-up"
    ]  # fmt: skip
    box = legend.get_window_extent(renderer)
    assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes)


def _curve_styles(fig) -> dict[str, tuple]:
    """``{label: (colour, line style)}`` of the method lines of a curve plot."""
    lines = [line for ax in fig.axes for line in ax.get_lines() if line.get_label()[0] != "_"]
    return {
        line.get_label(): (matplotlib.colors.to_hex(line.get_color()), line.get_linestyle())
        for line in lines
    }


@pytest.mark.parametrize("count", [11, 20])
def test_no_two_methods_share_colour_and_line_style_in_a_curve_plot(count):
    names = [f"method_{i}" for i in range(count)]
    bads = {
        "config": {"name": "t", "metric": "acc"},
        "methods": {n: {"seeds": [{"eval_steps": [1, 2], "test_metric": [0.1 * i, 0.2]}]}
                    for i, n in enumerate(names)},
    }  # fmt: skip
    online = {
        "config": {"name": "t", "targets": []},
        "methods": {
            n: {"seeds": [{"test_acc": [0.01 * i, 0.5, 0.6]}]} for i, n in enumerate(names)
        },
    }
    for fig in (plot_bads_curves(bads), plot_online_curves(online)):
        styles = _curve_styles(fig)
        assert len(styles) == count, styles
        assert len(set(styles.values())) == count, styles


def test_trace_densities_leave_the_warm_up_out():
    idata = fake_idata(chains=2, draws=16)  # thin 2: draws at steps 0, 2, ..., 30
    idata.posterior.attrs["warmup_steps"] = 20  # draws at steps >= 20: 6 per chain
    fig = plot_weight_trace(idata, [0])
    density_ax, trace_ax = fig.axes[:2]
    counts = [p for p in density_ax.patches]  # one step outline per chain
    assert len(counts) == 2
    assert len(trace_ax.get_lines()[0].get_xdata()) == 16  # the trace shows every draw
    shade = [p for p in trace_ax.patches if p.get_alpha() == 0.15]
    assert len(shade) == 1  # the warm-up span is marked
    kept = idata.posterior["w"].isel(draw=slice(10, None))
    assert kept.sizes["draw"] == 6


def test_histogram_draws_the_prior_with_its_mode():
    idata = fake_idata()
    idata.posterior.attrs["prior"] = '{"name": "truncated_normal", "beta": 0.3, "sigma": 0.5}'
    ax = plot_weight_histograms(idata).axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert "prior p(w_i), on the count scale" in labels
    assert any("β = 0.3: prior mode" in t.get_text() for t in ax.texts)
    assert any(line.get_xdata()[0] == 0.3 for line in ax.get_lines() if len(line.get_xdata()) == 2)


def test_online_curves_keep_coinciding_methods_visible_and_label_targets_in_the_margin():
    curve = [0.2, 0.5, 0.8, 0.9]
    run = {"seed": 0, "test_acc": curve}
    results = {
        "config": {"name": "t", "targets": [0.8, 0.9], "dataset": {"name": "digits", "noise": 0.2}},
        "methods": {
            "rho_loss": {"seeds": [run]},
            "rho_loss_zs": {"seeds": [dict(run)]},
            "uniform": {"seeds": [{"seed": 0, "test_acc": [0.1, 0.2, 0.3, 0.4]}]},
        },
    }
    fig = plot_online_curves(results)
    ax = fig.axes[0]
    lines = {
        line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")
    }
    a, b = lines["rho_loss (n=1)"], lines["rho_loss_zs (n=1) = rho_loss"]
    assert (a.get_linestyle(), a.get_marker()) != (b.get_linestyle(), b.get_marker())
    assert b.get_zorder() > a.get_zorder() and b.get_linewidth() > a.get_linewidth()
    targets = [t for t in ax.texts if t.get_text().startswith("target")]
    assert len(targets) == 2 and all(t.xy[0] == 1.0 for t in targets)  # outside the curves
    assert "20% symmetric label noise" in ax.get_title()
    assert ax.get_xlabel() == "training epochs (passes over the training set)"


def group_results(methods):
    seeds = lambda g: [  # noqa: E731
        {"eval_steps": [10, 20], "group_weights": {"clean": g, "noisy": g},
         "final_group_weights": {"clean": 0.9, "noisy": 0.1}}
    ]  # fmt: skip
    return {
        "config": {"name": "t", "dataset": {"name": "digits", "noise": 0.5}},
        "groups": "noise",
        "methods": {m: {"seeds": seeds([0.5, 0.6])} for m in methods},
    }


def test_group_weights_grid_reads_at_full_size_with_units_and_a_mask_for_cds():
    fig = plot_group_weights(group_results(["contrastive", "blo", "bads", "bads_weightnet"]))
    width, height = fig.get_size_inches()
    assert width <= 13 and height <= 9  # a 2x2 grid, not a 22-inch strip
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible() and ax.get_title()}
    assert set(panels) == {"contrastive", "blo", "bads", "bads_weightnet"}
    assert "1 = uniform" in panels["blo"].get_ylabel()
    assert any(line.get_ydata()[0] == 1.0 for line in panels["blo"].get_lines())
    cds = panels["contrastive"]
    assert len(cds.patches) == 2  # bars of the kept shares (with error bars), no trajectory
    assert not any(len(line.get_xdata()) > 2 for line in cds.get_lines())
    assert "kept" in cds.get_ylabel()
    for ax in panels.values():
        assert ax.title.get_fontsize() >= 10


def test_weight_panels_keep_their_labels_and_legends_clear_of_each_other():
    """The long units of fixed-weight methods fit their panel's height (no label running into
    the next panel), and the highlighted group's legend sits above the bars, not on them."""
    tasks = [f"wordnet/task_{i}" for i in range(7)] + ["wordnet/define"]
    final = {t: 0.75 + 0.01 * i for i, t in enumerate(tasks)}
    results = {
        "config": {"name": "t", "dataset": {"name": "instructions",
                                            "corrupt_task": "wordnet/define"}},
        "groups": "task", "headline_groups": ["clean", "noisy"],
        "methods": {m: {"seeds": [{"eval_steps": [10], "group_weights": {"clean": [0.8],
                                                                         "noisy": [0.7]},
                                   "final_group_weights": {"clean": 0.8, "noisy": 0.7, **final}}]}
                    for m in ("classact", "askllm_o", "blo")},
    }  # fmt: skip
    for fig in (plot_final_weights(results), plot_group_weights(results)):
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax in [a for a in fig.axes if a.get_visible() and a.get_title()]:
            box, label = ax.get_window_extent(), ax.yaxis.label.get_window_extent(renderer)
            assert label.height <= box.height, (ax.get_title(), ax.get_ylabel())
            legend = ax.get_legend()
            if legend is not None and ax.patches:
                lbox = legend.get_window_extent(renderer)
                assert not any(lbox.overlaps(p.get_window_extent(renderer)) for p in ax.patches)


def test_rescaled_classact_weights_are_labelled_and_drawn_whole():
    """``classact.scale = mean_one``: weights above 1 stay inside the panel, and the label
    (the title of the per-group bars) says they are not probabilities."""
    results = group_results(["classact"])
    results["config"]["classact"] = {"scale": "mean_one"}
    for r in results["methods"]["classact"]["seeds"]:
        r["final_group_weights"] = {"clean": 1.8, "noisy": 0.2}
    ax = plot_group_weights(results).axes[0]
    assert ax.get_ylim()[1] >= 1.8
    assert "its mean over D_t" in ax.get_ylabel()
    bars = plot_final_weights(results).axes[0]
    assert "its mean over D_t" in bars.get_title() and bars.get_ylim()[1] >= 1.8


def test_sweep_plot_shows_spread_and_labelled_targets():
    run = lambda acc: {"seed": 0, "test_acc": acc}  # noqa: E731
    sweep = {
        "keys": ["bayesian.alpha"],
        "key": "bayesian.alpha",
        "targets": [0.8],
        "runs": {
            f"bayesian.alpha={v}": {
                "values": {"bayesian.alpha": v},
                "methods": {"bayesian": {"seeds": [run([0.5, 0.85]), run([0.6, 0.8])]}},
            }
            for v in (0.1, 0.4)
        },
    }
    ax = plot_sweep(sweep).axes[0]
    assert len(ax.collections) == 2  # one ± std band per value
    assert [t.get_text() for t in ax.texts] == ["target 0.80"]
    assert all("(n=2)" in line.get_label() for line in ax.get_lines()[:2])


@pytest.fixture(scope="module")
def bads_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bads") / "run"
    args = ["bads", "--config", str(CONFIGS / "digits_denoise.yaml"), "--out", str(out), *TWO_SEEDS]
    for s in ("steps=40", "eval_every=20", "bads.s_avg=20", "bads.thin=2",
              "methods=[mixing, bads]"):  # fmt: skip
        args += ["--set", s]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def online_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("online") / "run"
    args = ["online", "--config", str(CONFIGS / "digits_noisy.yaml"), "--out", str(out), *TWO_SEEDS]
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
    assert (
        "| group | mean weight | sd over draws | sd between chains | sd within chains | R-hat |"
        in text
    )
    assert "**Flag:**" in text and "chains (seeds) disagree" in text  # 40 steps: not converged
    assert "Missing" not in text
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


def test_report_on_a_sweep_folder(tmp_path):
    out = tmp_path / "sweep"
    args = ["online", "--config", str(CONFIGS / "digits_noisy.yaml"), "--out", str(out), *TWO_SEEDS]
    args += ["--set", "epochs=2", "--set", "methods=[uniform]", "--set", "seeds=[0]"]
    args += ["--sweep", "n_b=8,16"]
    assert main(args) == 0
    (out / "sweep.png").unlink()
    assert main(["report", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert text.startswith("# Report: sweep over n_b")
    assert "| n_b | method | final acc % |" in text and "| 16 | uniform |" in text
    assert "](sweep.png)" in text and (out / "sweep.png").is_file()
    assert "could not be drawn" not in text and "is missing" not in text


def test_convergence_flags_chains_that_disagree_and_not_those_that_agree():
    from bayes_dps.diagnostics.convergence import convergence

    rng = np.random.default_rng(1)
    groups = np.array(["clean", "noisy"] * 10)
    mixed = [rng.uniform(0.4, 0.6, size=(400, 20)) for _ in range(3)]
    stuck = [rng.uniform(0.4, 0.6, size=(400, 20)) + 0.3 * c for c in range(3)]
    good = convergence(weights_to_inference_data(mixed, np.arange(20), groups))
    bad = convergence(weights_to_inference_data(stuck, np.arange(20), groups))
    assert good.flags() == [] and max(g["rhat"] for g in good.groups.values()) < 1.01
    assert any("disagree" in f for f in bad.flags())
    assert bad.groups["clean"]["rhat"] > 1.1


def test_the_headline_puts_r_hat_beside_the_spread_between_chains_and_the_groups_gap():
    """A cold chain: each chain nearly still, the chains a thousandth apart, the groups 0.4
    apart — R-hat is large, and the headline says the chains agree on the groups. Chains
    that order the groups differently are told apart from that; mixed chains say so."""
    from bayes_dps.diagnostics.convergence import convergence

    rng = np.random.default_rng(2)
    groups = np.array(["clean", "noisy"] * 10)
    level = np.where(groups == "clean", 0.4, 0.02)

    def idata(offsets, noise):
        traces = [level + o + noise * rng.standard_normal((200, 20)) for o in offsets]
        return weights_to_inference_data(traces, np.arange(20), groups)

    cold = convergence(idata([0.0, 0.001, 0.002], 1e-4))
    assert cold.groups["clean"]["rhat"] > 1.1
    assert cold.groups["clean"]["between_sd"] == pytest.approx(0.001, rel=0.05)
    assert cold.groups["clean"]["within_sd"] == pytest.approx(
        1e-4 / np.sqrt(10), rel=0.2
    )  # a mean of 10
    line = cold.headline()
    assert line.startswith("not mixed at this length: group-mean R-hat up to")
    assert "every chain ranks the groups alike (gap 0.380" in line and "last digits" in line

    swapped = [np.where(groups == "clean", a, b) for a, b in ((0.4, 0.02), (0.02, 0.4))]
    swapped = [t + 1e-3 * rng.standard_normal((200, 20)) for t in swapped]
    crossed = convergence(weights_to_inference_data(swapped, np.arange(20), groups))
    assert crossed.headline().endswith("the chains rank the groups differently")

    mixed = convergence(idata([0.0, 0.0, 0.0], 0.05))
    assert mixed.headline().startswith("mixed: group-mean R-hat ≤ 1.0")
    assert convergence(idata([0.0], 0.05)).headline().startswith("one chain only")


def test_the_reports_first_screen_says_whether_the_weights_mixed(tmp_path):
    """The posterior's headline stands right after the results table, before the figures."""
    from bayes_dps.diagnostics.report import write_report

    out = tmp_path / "run"
    out.mkdir()
    (out / "results.json").write_text(json.dumps(group_results(["bads"])))
    rng = np.random.default_rng(0)
    traces = [rng.uniform(size=(40, 6)) for _ in range(2)]
    idata = weights_to_inference_data(traces, np.arange(6), np.array(["clean", "noisy"] * 3))
    idata.to_netcdf(str(out / "posterior.nc"))
    path, _ = write_report(out)
    text = path.read_text()
    head = text.split("## Figures")[0]
    assert "Posterior of the weights, `posterior.nc`: " in head
    assert "The chains are the run's seeds" in text and "**bulk ESS**" in text
    assert "| sd between chains | sd within chains |" in text


def test_bads_sweep_over_a_grid_writes_a_table_and_figure(tmp_path):
    out = tmp_path / "gamma"
    args = ["bads", "--config", str(CONFIGS / "digits_denoise.yaml"), "--out", str(out), *TWO_SEEDS]
    for s in ("steps=20", "eval_every=10", "bads.s_avg=10", "bads.thin=2", "methods=[bads]",
              "seeds=[0]", "model_options={hidden: [16]}"):  # fmt: skip
        args += ["--set", s]
    args += ["--sweep", "bads.normaliser_weight=0,1", "--sweep", "bads.rho_w=1,10"]
    assert main(args) == 0
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["keys"] == ["bads.normaliser_weight", "bads.rho_w"] and len(sweep["runs"]) == 4
    assert (out / "bads.normaliser_weight=1,bads.rho_w=10" / "posterior.nc").is_file()
    assert main(["report", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert "| bads.normaliser_weight | bads.rho_w | method | final acc % |" in text
    assert "](sweep.png)" in text and "could not be drawn" not in text
