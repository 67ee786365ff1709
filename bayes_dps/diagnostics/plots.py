"""Figures of a run, drawn from its ``results.json`` or ``InferenceData`` (matplotlib).

The backend is left to the caller: inline in notebooks, Agg in the CLI (set there)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from bayes_dps.io import atomic_write


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 120) -> Path:
    """Save ``fig`` as PNG atomically and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return atomic_write(path, lambda fh: fh.write(buf.getvalue()))


def plot_online_curves(results: dict[str, Any], title: str | None = None) -> plt.Figure:
    """Test accuracy per epoch, one line per method (mean over seeds, band ± 1 std), with the
    config's target accuracies as dashed horizontal lines (Table 1 protocol)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, method in results["methods"].items():
        curves = [run["test_acc"] for run in method["seeds"]]
        length = min(len(c) for c in curves)
        arr = np.array([c[:length] for c in curves])
        mean, std = arr.mean(0), arr.std(0)
        epochs = np.arange(1, length + 1)
        (line,) = ax.plot(epochs, mean, label=f"{name} (n={len(curves)})")
        ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    for t in results["config"].get("targets", []):
        ax.axhline(t, color="grey", linestyle="--", linewidth=0.8)
        ax.annotate(
            f"target {t:.2f}",
            (0, t),
            xycoords=("axes fraction", "data"),
            xytext=(2, 2),
            textcoords="offset points",
            fontsize=8,
            color="grey",
        )
    ax.set_xlabel("epoch (n / n_B selection steps)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title or f"{results['config'].get('name') or 'online'}: test accuracy")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="method (seeds)", fontsize=9)
    ax.grid(alpha=0.3)
    return fig


def plot_selection_stats(results: dict[str, Any], title: str | None = None) -> plt.Figure:
    """Share of selected points with a corrupted label (paper Fig. 1a) and share already
    classified correctly, "redundant" (Fig. 1b), per method: bars of mean ± std over seeds."""
    names = list(results["methods"])
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.1 * len(names) + 3), 4.2))
    panels = (
        ("selected_noisy_fraction", "label-noise share of selected points", "(a) noisy"),
        ("selected_redundant_fraction", "share already classified correctly", "(b) redundant"),
    )
    pos = np.arange(len(names))
    for ax, (key, ylabel, panel) in zip(axes, panels, strict=True):
        vals = [[r[key] for r in results["methods"][n]["seeds"]] for n in names]
        ax.bar(
            pos,
            [np.mean(v) for v in vals],
            yerr=[np.std(v) for v in vals],
            capsize=3,
            color=[f"C{i}" for i in range(len(names))],
        )
        ax.legend(
            handles=[
                Patch(color="grey", label="bar: mean over seeds"),
                Line2D([], [], color="black", marker="_", label="whisker: ± 1 std"),
            ],
            loc="upper right",
            fontsize=8,
        )
        ax.set_xticks(pos, names, rotation=35, ha="right")
        ax.set_xlabel("selection method")
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, 1.18)  # room for the legend above bars at 1
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set_title(panel)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title or f"{results['config'].get('name') or 'online'}: selected points")
    fig.tight_layout()
    return fig


def plot_sweep(sweep: dict[str, Any], title: str | None = None) -> plt.Figure:
    """Hyper-parameter sweep (paper Fig. 4): one test-accuracy curve (mean over seeds) per
    value of the swept key, for each method of the sweep."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    key = sweep["key"]
    for i, (value, results) in enumerate(sweep["runs"].items()):
        for j, (name, method) in enumerate(results["methods"].items()):
            curves = [run["test_acc"] for run in method["seeds"]]
            length = min(len(c) for c in curves)
            mean = np.array([c[:length] for c in curves]).mean(0)
            style = ["-", "--", ":", "-."][j % 4]
            ax.plot(
                np.arange(1, length + 1),
                mean,
                style,
                color=f"C{i}",
                label=f"{name}, {key.split('.')[-1]}={value}",
            )
    for t in sweep.get("targets", []):
        ax.axhline(t, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (mean over seeds)")
    ax.set_title(title or f"sweep over {key}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def _mean_band(ax, x, runs, label, color=None, style="-"):
    arr = np.array(runs, dtype=float)
    mean, std = np.nanmean(arr, 0), np.nanstd(arr, 0)
    (line,) = ax.plot(x, mean, style, label=label, color=color)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2)


def plot_bads_curves(results: dict[str, Any], title: str | None = None) -> plt.Figure:
    """Test metric over training steps, one line per method (mean ± std over seeds)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    metric = results["config"].get("metric", "acc")
    for name, method in results["methods"].items():
        x = method["seeds"][0]["eval_steps"]
        _mean_band(
            ax, x, [r["test_metric"] for r in method["seeds"]], f"{name} (n={len(method['seeds'])})"
        )
    ax.set_xlabel("training step")
    ax.set_ylabel("balanced test accuracy" if metric == "balanced_acc" else "test accuracy")
    ax.set_title(title or f"{results['config'].get('name') or 'bads'}: test {metric}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="method (seeds)", fontsize=9)
    ax.grid(alpha=0.3)
    return fig


def plot_group_weights(results: dict[str, Any], title: str | None = None) -> plt.Figure:
    """Mean instance weight per ground-truth group over steps (paper Fig. 2, bottom row):
    one panel per method that has weights, mean ± std over seeds."""
    names = [n for n, m in results["methods"].items() if m["seeds"][0].get("group_weights")]
    fig, axes = plt.subplots(
        1, max(len(names), 1), figsize=(5.5 * max(len(names), 1), 4), squeeze=False
    )
    for ax, name in zip(axes[0], names, strict=False):
        seeds = results["methods"][name]["seeds"]
        x = seeds[0]["eval_steps"]
        top = 1.0
        for g in seeds[0]["group_weights"]:
            curves = [r["group_weights"][g] for r in seeds]
            _mean_band(ax, x, curves, g)
            top = max(top, 1.05 * float(np.nanmax(np.asarray(curves, dtype=float))))
        ax.set_xlabel("training step")
        ax.set_ylabel("mean weight w in group")
        ax.set_ylim(0, top)  # BLO's weights are |B_t|·w_i (1 = uniform), may exceed 1
        ax.set_title(name)
        ax.legend(title=f"group ({results.get('groups', '')})", fontsize=9)
        ax.grid(alpha=0.3)
    if not names:
        axes[0][0].set_title("no method with instance weights")
        axes[0][0].set_xlabel("training step")
        axes[0][0].set_ylabel("mean weight w in group")
    fig.suptitle(title or f"{results['config'].get('name') or 'bads'}: instance weights by group")
    fig.tight_layout()
    return fig


def plot_weight_histograms(idata: Any, title: str | None = None, bins: int = 30) -> plt.Figure:
    """Histogram of each instance's posterior-mean weight (over chains and draws of the second
    half of the trace), one colour per ground-truth group."""
    w = idata.posterior["w"]
    half = w.sizes["draw"] // 2
    means = w.isel(draw=slice(half, None)).mean(("chain", "draw")).values
    groups = (
        idata.constant_data["group"].values
        if "constant_data" in idata.groups()
        else np.array(["all"] * len(means))
    )
    fig, ax = plt.subplots(figsize=(6, 4))
    edges = np.linspace(0, max(1.0, float(np.nanmax(means))), bins + 1)
    for g in sorted(set(groups.tolist())):
        ax.hist(
            means[groups == g], bins=edges, alpha=0.6, label=f"{g} ({int((groups == g).sum())})"
        )
    ax.set_xlabel("posterior mean weight w_i (second half of the chain)")
    ax.set_ylabel("number of instances")
    ax.legend(title="group")
    ax.set_title(title or "final weights by group")
    fig.tight_layout()
    return fig


def chosen_instances(idata: Any, per_group: int = 2) -> list[int]:
    """A few traced instances per group (the first ``per_group`` of each), for trace plots."""
    inst = idata.posterior["w"].coords["instance"].values
    if "constant_data" not in idata.groups():
        return inst[: 2 * per_group].tolist()
    groups = idata.constant_data["group"].values
    return [int(i) for g in sorted(set(groups.tolist())) for i in inst[groups == g][:per_group]]


def plot_weight_trace(
    idata: Any, instances: list[int] | None = None, kind: str = "trace"
) -> plt.Figure:
    """ArviZ trace plot (``kind="trace"``) or rank plot (``"rank"``) of chosen weights."""
    from bayes_dps.diagnostics.arviz_export import arviz

    az = arviz()
    chosen = instances if instances is not None else chosen_instances(idata)
    coords = {"instance": chosen}
    if kind == "trace":
        axes = az.plot_trace(idata, var_names=["w"], coords=coords, compact=False)
    elif kind == "rank":
        axes = az.plot_rank(idata, var_names=["w"], coords=coords, figsize=(3.2 * len(chosen), 3.2))
    else:
        raise ValueError(f"kind must be 'trace' or 'rank', got {kind!r}")
    axes = np.atleast_1d(axes)
    fig = axes.flat[0].figure
    for ax in axes.flat:
        if kind == "trace" and ax.get_xlabel() == "":
            ax.set_xlabel("draw" if ax in axes[:, 1] else "w")
        if kind == "rank":
            ax.set_xlabel("rank (all chains)", fontsize=9)
            ax.set_ylabel("chain", fontsize=9)
            ax.title.set_fontsize(10)
            handles = [
                Patch(color=f"C{i}", label=f"chain {c}")
                for i, c in enumerate(idata.posterior.chain.values)
            ]
            handles.append(Line2D([], [], color="k", linestyle="--", label="uniform"))
            ax.legend(handles=handles, fontsize=7, loc="upper right")
        lines = kind == "trace" and ax.get_lines()
        if lines and ax.get_legend() is None and len(idata.posterior.chain) > 1:
            ax.legend(
                ax.get_lines()[: len(idata.posterior.chain)],
                [f"chain {c}" for c in idata.posterior.chain.values],
                fontsize=7,
            )
    label = ", ".join(str(i) for i in chosen)
    if "constant_data" in idata.groups():
        group_of = dict(
            zip(
                idata.posterior["w"].coords["instance"].values.tolist(),
                idata.constant_data["group"].values.tolist(),
                strict=True,
            )
        )
        label = ", ".join(f"{i} ({group_of[i]})" for i in chosen)
    fig.suptitle(f"{kind} plot of the weights w_i of instances {label}")
    fig.tight_layout()
    return fig
