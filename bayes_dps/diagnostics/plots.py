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


#: line styles and markers cycled per method, so that curves that coincide stay visible
STYLES = ("-", "--", "-.", ":")


def method_style(i: int) -> dict[str, str]:
    """The colour and line style of the ``i``-th method of a curve plot: the ten colours,
    then again with the next dash, so no two of up to 40 methods look alike."""
    return {"color": f"C{i % 10}", "linestyle": STYLES[(i // 10) % len(STYLES)]}


MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "h")


def describe_scenario(cfg: dict[str, Any]) -> str:
    """The data a run used, in words: ``digits, 20% label noise`` (for figure titles)."""
    ds = cfg.get("dataset", {})
    parts = [str(ds.get("name", "data"))]
    if ds.get("noise"):
        parts.append(f"{100 * ds['noise']:.0f}% symmetric label noise")
    if (ds.get("imbalance") or 1) > 1:
        parts.append(f"imbalance ratio {ds['imbalance']:g} ({ds.get('imbalance_profile', 'exp')})")
    if ds.get("domain"):
        dom = ds["domain"]
        parts.append(f"+{dom.get('fraction', 1.0):g}× off-domain ({dom.get('kind')})")
    return ", ".join(parts)


def _coincident(curves: dict[str, np.ndarray]) -> dict[str, str]:
    """``{name: earlier name}`` for every curve equal to an earlier one (drawn on top)."""
    out: dict[str, str] = {}
    names = list(curves)
    for i, a in enumerate(names):
        for b in names[:i]:
            if len(curves[a]) == len(curves[b]) and np.allclose(curves[a], curves[b]):
                out[a] = b
                break
    return out


def _target_lines(ax: plt.Axes, targets: list[float]) -> None:
    """Dashed lines with labels outside the plotting area, where no curve can cover them."""
    for t in targets:
        ax.axhline(t, color="grey", linestyle="--", linewidth=0.8, zorder=0)
        ax.annotate(
            f"target {t:.2f}",
            (1.0, t),
            xycoords=("axes fraction", "data"),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color="dimgrey",
            annotation_clip=False,
        )


def plot_online_curves(results: dict[str, Any], title: str | None = None) -> plt.Figure:
    """Test accuracy per epoch, one line per method (mean over seeds, band ± 1 std), with the
    config's target accuracies as dashed lines labelled in the margin (Table 1 protocol).
    Methods whose curves coincide (``rho_loss_zs`` is ``rho_loss`` when the zero-shot
    predictor is the holdout model) get distinct dashes and markers and a legend note."""
    fig, ax = plt.subplots(figsize=(8, 4.8))
    means: dict[str, np.ndarray] = {}
    spreads: dict[str, np.ndarray] = {}
    for name, method in results["methods"].items():
        curves = [run["test_acc"] for run in method["seeds"]]
        length = min(len(c) for c in curves)
        arr = np.array([c[:length] for c in curves])
        means[name], spreads[name] = arr.mean(0), arr.std(0)
    same = _coincident(means)
    for i, (name, mean) in enumerate(means.items()):
        epochs = np.arange(1, len(mean) + 1)
        n = len(results["methods"][name]["seeds"])
        label = f"{name} (n={n})" + (f" = {same[name]}" if name in same else "")
        (line,) = ax.plot(
            epochs,
            mean,
            color=f"C{i % 10}",
            linestyle=STYLES[i % len(STYLES)],  # with the colour: distinct for 20 methods
            marker=MARKERS[i % len(MARKERS)],
            markevery=max(1, len(mean) // 8),
            markersize=4,
            linewidth=1.6 if name not in same else 2.4,
            label=label,
            zorder=3 if name in same else 2,
        )
        ax.fill_between(
            epochs, mean - spreads[name], mean + spreads[name], color=line.get_color(), alpha=0.15
        )
    _target_lines(ax, results["config"].get("targets", []))
    ax.set_xlabel("training epochs (passes over the training set)")
    ax.set_ylabel("test accuracy")
    cfg = results["config"]
    ax.set_title(title or f"{cfg.get('name') or 'online'}: test accuracy\n{describe_scenario(cfg)}")
    legend_title = "method (seeds)" + ("; '= X': same curve as X" if same else "")
    ax.legend(loc="upper left", bbox_to_anchor=(1.12, 1.0), title=legend_title, fontsize=9)
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
    cfg = results["config"]
    fig.suptitle(
        title or f"{cfg.get('name') or 'online'}: selected points ({describe_scenario(cfg)})"
    )
    fig.tight_layout()
    return fig


def _point_label(run: dict[str, Any], keys: list[str]) -> str:
    return ", ".join(f"{k.split('.')[-1]}={run['values'][k]}" for k in keys)


def plot_sweep(sweep: dict[str, Any], title: str | None = None) -> plt.Figure:
    """Online-selection sweep (paper Fig. 4): one test-accuracy curve per point of the grid
    (mean over seeds, band ± 1 std), for each method, with labelled target lines."""
    fig, ax = plt.subplots(figsize=(8, 4.8))
    keys = sweep["keys"]
    for i, run in enumerate(sweep["runs"].values()):
        for j, (name, method) in enumerate(run["methods"].items()):
            curves = [r["test_acc"] for r in method["seeds"]]
            length = min(len(c) for c in curves)
            arr = np.array([c[:length] for c in curves])
            mean, std = arr.mean(0), arr.std(0)
            x = np.arange(1, length + 1)
            ax.plot(
                x, mean, STYLES[j % len(STYLES)], color=f"C{i % 10}",
                label=f"{name}, {_point_label(run, keys)} (n={len(curves)})",
            )  # fmt: skip
            ax.fill_between(x, mean - std, mean + std, color=f"C{i % 10}", alpha=0.12)
    _target_lines(ax, sweep.get("targets", []))
    ax.set_xlabel("training epochs (passes over the training set)")
    ax.set_ylabel("test accuracy (mean ± std over seeds)")
    ax.set_title(title or f"sweep over {', '.join(keys)}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.12, 1.0), fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def plot_bads_sweep(sweep: dict[str, Any], title: str | None = None) -> plt.Figure:
    """BADS sweep: final test metric (left) and the final mean weight of each ground-truth
    group (right) against the first swept key, one line per method and per value of the other
    keys (mean ± std over seeds)."""
    keys = sweep["keys"]
    x_key, others = keys[0], keys[1:]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    series: dict[tuple, list] = {}
    for run in sweep["runs"].values():
        rest = tuple(run["values"][k] for k in others)
        for name, method in run["methods"].items():
            series.setdefault((name, rest), []).append((run["values"][x_key], method["seeds"]))
    for i, ((name, rest), points) in enumerate(series.items()):
        points.sort(key=lambda p: p[0])
        xs = [p[0] for p in points]
        tag = name + "".join(f", {k.split('.')[-1]}={v}" for k, v in zip(others, rest, strict=True))
        metric = [[r["final_metric"] for r in seeds] for _, seeds in points]
        left.errorbar(xs, [np.mean(m) for m in metric], yerr=[np.std(m) for m in metric],
                      marker=MARKERS[i % len(MARKERS)], capsize=3, label=tag)  # fmt: skip
        groups = list(points[0][1][0].get("final_group_weights") or {})
        for j, g in enumerate(groups):
            vals = [[r["final_group_weights"][g] for r in seeds] for _, seeds in points]
            right.errorbar(
                xs, [np.mean(v) for v in vals], yerr=[np.std(v) for v in vals],
                color=f"C{i % 10}", linestyle=STYLES[j % len(STYLES)],
                marker=MARKERS[j % len(MARKERS)], capsize=3, label=f"{tag}: {g}",
            )  # fmt: skip
    left.set_xlabel(x_key)
    left.set_ylabel("final test metric (mean ± std over seeds)")
    right.set_xlabel(x_key)
    right.set_ylabel("final mean weight w_i of the group")
    left.legend(fontsize=8)
    right.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.suptitle(title or f"sweep over {', '.join(keys)}")
    fig.tight_layout()
    return fig


def _mean_band(ax, x, runs, label, color=None, style="-"):
    arr = np.array(runs, dtype=float)
    mean, std = np.nanmean(arr, 0), np.nanstd(arr, 0)
    (line,) = ax.plot(x, mean, linestyle=style, label=label, color=color)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2)


#: y-axis labels of the BADS test metrics
METRIC_LABELS = {
    "acc": "test accuracy",
    "balanced_acc": "balanced test accuracy",
    "bleu": "test BLEU (sacrebleu, 0-100)",
    "token_acc": "next-token accuracy on response tokens",
}


def plot_bads_curves(results: dict[str, Any], title: str | None = None) -> plt.Figure:
    """Test metric over training steps, one line per method (mean ± std over seeds)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    metric = results["config"].get("metric", "acc")
    for i, (name, method) in enumerate(results["methods"].items()):
        x = method["seeds"][0]["eval_steps"]
        style = method_style(i)
        _mean_band(
            ax, x, [r["test_metric"] for r in method["seeds"]],
            f"{name} (n={len(method['seeds'])})", style["color"], style["linestyle"],
        )  # fmt: skip
    ax.set_xlabel("training step")
    ax.set_ylabel(METRIC_LABELS.get(metric, f"test {metric}"))
    cfg = results["config"]
    ax.set_title(title or f"{cfg.get('name') or 'bads'}: test {metric}\n{describe_scenario(cfg)}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="method (seeds)", fontsize=9)
    ax.grid(alpha=0.3)
    return fig


#: what the weight of each method means (the y label of its panel, broken to fit its height)
WEIGHT_UNITS = {
    "blo": "|B_t|·w_i at the latest visit\n(1 = uniform)",
    "contrastive": "share of the group kept\n(fixed before training)",
    "classact": "P(curated | x), the loss weight\n(fixed before training)",
    "askllm_o": "P(yes | 'useful?'), the loss weight\n(fixed before training)",
    "mwn": "V(loss) at the latest visit\n(Meta-Weight-Net)",
    "cleanlab": "share of the group kept\n(confident learning, before training)",
    "class_balanced": "class-balanced loss weight\n(fixed before training)",
    "resample": "expected draws per epoch\n(1 = uniform)",
}
#: methods whose weights are fixed before training (drawn as bars, not curves)
FIXED_WEIGHTS = ("contrastive", "classact", "askllm_o", "cleanlab", "class_balanced", "resample")


def weight_units(results: dict[str, Any], name: str, default: str) -> str:
    """The y label of ``name``'s weights in ``results`` (``classact.scale = mean_one``
    rescales ``classact``'s probabilities)."""
    if name == "classact" and results["config"].get("classact", {}).get("scale") == "mean_one":
        return "P(curated | x) / its mean over D_t,\nthe loss weight (fixed before training)"
    return WEIGHT_UNITS.get(name, default)


def has_group_contrast(results: dict[str, Any]) -> bool:
    return any(m["seeds"][0].get("group_contrast") for m in results["methods"].values())


def plot_group_contrast(results: dict[str, Any], title: str | None = None) -> plt.Figure:
    """The drift contrast the weights read in each evaluation block (corrupted minus clean
    group; mean ± std over seeds), one line per weight method: above 0 the block pushes the
    corrupted group's weights up, below 0 down; where it reaches 0 the signal is gone."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    groups = None
    for name, m in results["methods"].items():
        seeds = [r for r in m["seeds"] if r.get("group_contrast")]
        if not seeds:
            continue
        groups = seeds[0]["group_contrast"]["groups"]
        curves = [[np.nan if v is None else v for v in r["group_contrast"]["drift"]] for r in seeds]
        _mean_band(ax, seeds[0]["eval_steps"], curves, f"{name} ({len(seeds)})")
    ax.axhline(0.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("training step (end of each evaluation block)")
    label = f"{groups[0]} − {groups[1]}" if groups else "corrupted − clean"
    ax.set_ylabel(f"mean drift, {label} (nats)")
    cfg = results["config"]
    ax.set_title(title or f"{cfg.get('name') or 'bads'}: what the weights can read per block")
    ax.legend(title="method (seeds)", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def sweep_contrast_results(sweep: dict[str, Any], points: dict[str, dict]) -> dict[str, Any]:
    """One results-like dict whose methods are every (grid point, method) of a BADS sweep with
    a recorded drift contrast (``points``: each point's ``results.json`` by folder name), for
    :func:`plot_group_contrast`."""
    methods: dict[str, Any] = {}
    for run in sweep["runs"].values():
        res = points.get(run["folder"])
        if res is None:
            continue
        tag = ", ".join(f"{k.split('.')[-1]}={run['values'][k]}" for k in sweep["keys"])
        for name, m in res["methods"].items():
            if m["seeds"] and m["seeds"][0].get("group_contrast"):
                methods[f"{name}, {tag}"] = m
    first = next(iter(points.values()), {"config": {}})
    return {"methods": methods, "config": first["config"]}


def plot_group_weights(results: dict[str, Any], title: str | None = None) -> plt.Figure:
    """Mean instance weight per ground-truth group over steps (paper Fig. 2, bottom row): one
    panel per method with weights (mean ± std over seeds), on a grid of at most two columns
    that reads at 100% zoom. ``blo``'s weights are ``|B_t|·w_i`` (1 = uniform, marked);
    ``contrastive`` keeps a fixed subset, drawn as the share of each group it keeps."""
    names = [n for n, m in results["methods"].items() if m["seeds"][0].get("group_weights")]
    cols = 1 if len(names) <= 1 else 2
    rows = max(1, -(-len(names) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 3.9 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        seeds = results["methods"][name]["seeds"]
        shown = results.get("headline_groups")  # per-domain/task weights: plot_final_weights
        groups = [g for g in seeds[0]["group_weights"] if shown is None or g in shown]
        if name in FIXED_WEIGHTS:
            kept = [[r["final_group_weights"][g] for r in seeds] for g in groups]
            ax.bar(
                groups, [np.mean(k) for k in kept], yerr=[np.std(k) for k in kept], capsize=4,
                color=[f"C{i}" for i in range(len(groups))],
            )  # fmt: skip
            ax.set_ylim(0, max(1.05, 1.1 * max(np.mean(k) + np.std(k) for k in kept)))
            ax.set_xlabel("ground-truth group")
        else:
            x = seeds[0]["eval_steps"]
            top = 1.0
            for g in groups:
                curves = [r["group_weights"][g] for r in seeds]
                _mean_band(ax, x, curves, g)
                top = max(top, 1.05 * float(np.nanmax(np.asarray(curves, dtype=float))))
            if name == "blo":
                ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
            ax.set_ylim(0, top)
            ax.set_xlabel("training step")
            ax.legend(title=f"group ({results.get('groups', '')})", fontsize=9)
        ax.set_ylabel(weight_units(results, name, "mean weight w_i in group"), fontsize=9)
        ax.set_title(name, fontsize=11)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_axis_off()
    if not names:
        axes[0][0].set_axis_on()
        axes[0][0].set_title("no method with instance weights")
        axes[0][0].set_xlabel("training step")
        axes[0][0].set_ylabel("mean weight w_i in group")
    cfg = results["config"]
    fig.suptitle(
        title
        or f"{cfg.get('name') or 'bads'}: instance weights by group ({describe_scenario(cfg)})"
    )
    fig.tight_layout()
    return fig


#: the colour of the groups a scenario is about (target domain, corrupted task)
HIGHLIGHT = "tab:orange"


def plot_final_weights(results: dict[str, Any], title: str | None = None) -> plt.Figure:
    """Final mean weight of every fine-grained group (a domain, an instruction task) per method
    with weights, mean ± std over seeds — the paper's Table 4 as bars. Groups are sorted by the
    weight of the first such method; the headline groups (``in_domain``, ``noisy``, …) are
    left to :func:`plot_group_weights`."""
    headline = set(results.get("headline_groups") or ())
    names = [
        n for n, m in results["methods"].items()
        if m["seeds"][0].get("final_group_weights") and n != "contrastive"
    ]  # fmt: skip
    groups = [] if not names else [
        g for g in results["methods"][names[0]]["seeds"][0]["final_group_weights"]
        if g not in headline
    ]  # fmt: skip
    ds = results["config"].get("dataset", {})
    #: the groups the scenario is about: the target domain, the corrupted task
    special = {g for g in (ds.get("target_domain"), ds.get("corrupt_task")) if g}
    fig, axes = plt.subplots(
        len(names) or 1, 1, figsize=(max(6.0, 0.28 * len(groups) + 2), 3.6 * max(1, len(names))),
        squeeze=False,
    )  # fmt: skip
    order = groups
    for i, (ax, name) in enumerate(zip(axes[:, 0], names, strict=False)):
        seeds = results["methods"][name]["seeds"]
        vals = {g: [r["final_group_weights"].get(g, np.nan) for r in seeds] for g in groups}
        if i == 0:
            order = sorted(groups, key=lambda g: -float(np.nanmean(vals[g])))
        colours = [HIGHLIGHT if g in special else "tab:blue" for g in order]
        ax.bar(
            range(len(order)), [np.nanmean(vals[g]) for g in order], color=colours,
            yerr=[np.nanstd(vals[g]) if len(seeds) > 1 else 0 for g in order], capsize=2,
        )  # fmt: skip
        ax.set_xticks(range(len(order)), order, rotation=90, fontsize=8)
        ax.set_xlim(-0.6, len(order) - 0.4)
        # the rotated group names leave the panel short: the weight's meaning goes in the title
        ax.set_ylabel("final mean weight", fontsize=9)
        ax.set_xlabel("domain / task (one bar each, mean ± std over seeds)", fontsize=9)
        units = weight_units(results, name, "w_i").replace("\n", " ")
        ax.set_title(f"{name}: {units}", fontsize=11)
        ax.grid(alpha=0.3, axis="y")
        if special & set(order):
            ax.set_ylim(top=ax.get_ylim()[1] * 1.3)  # room for the legend above the bars
            ax.legend(
                handles=[Patch(color=HIGHLIGHT, label=", ".join(sorted(special & set(order))))],
                fontsize=8, loc="upper right",
            )  # fmt: skip
        if name == "blo":
            ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    if not names:
        axes[0][0].set_title("no method with instance weights")
    cfg = results["config"]
    fig.suptitle(title or f"{cfg.get('name') or 'bads'}: final mean weight by domain / task")
    fig.tight_layout()
    return fig


def _prior_of(idata: Any):
    """The weight prior recorded with a chain set (``posterior.attrs["prior"]``), or None."""
    import json

    from bayes_dps.models.priors import build_weight_prior

    spec = idata.posterior.attrs.get("prior")
    try:
        return build_weight_prior(json.loads(spec)) if spec else None
    except Exception:  # an older or foreign file: draw without the prior
        return None


def plot_weight_histograms(idata: Any, title: str | None = None, bins: int = 30) -> plt.Figure:
    """Histogram of each instance's posterior-mean weight (draws after warm-up, all chains),
    one colour per ground-truth group, with the prior ``p(w_i)`` for reference: points whose
    likelihood barely moves their weight stay near the prior's bulk (for the truncated normal,
    around its mode β), which is where the spike of unmoved weights sits."""
    import torch

    from bayes_dps.diagnostics.convergence import warmup_draws

    w = idata.posterior["w"]
    means = w.isel(draw=slice(warmup_draws(idata), None)).mean(("chain", "draw")).values
    groups = (
        idata.constant_data["group"].values
        if "constant_data" in idata.groups()
        else np.array(["all"] * len(means))
    )
    fig, ax = plt.subplots(figsize=(7, 4.2))
    edges = np.linspace(0, max(1.0, float(np.nanmax(means))), bins + 1)
    for g in sorted(set(groups.tolist())):
        ax.hist(
            means[groups == g], bins=edges, alpha=0.6, label=f"{g} ({int((groups == g).sum())})"
        )
    prior = _prior_of(idata)
    if prior is not None:
        grid = torch.linspace(1e-3, 1 - 1e-3, 200)
        density = prior.log_prob(grid).exp().numpy()
        scale = len(means) * (edges[1] - edges[0])  # a density on the histogram's count scale
        spec = idata.posterior.attrs.get("prior", "")
        ax.plot(grid.numpy(), density * scale, color="black", linewidth=1.2,
                label="prior p(w_i), on the count scale")  # fmt: skip
        beta = _prior_beta(spec)
        if beta is not None:
            ax.axvline(beta, color="black", linestyle=":", linewidth=1)
            ax.annotate(
                f"β = {beta:g}: prior mode; unmoved weights stay near it",
                (beta, 1.0), xycoords=("data", "axes fraction"), xytext=(4, -12),
                textcoords="offset points", fontsize=8,
            )  # fmt: skip
    ax.set_xlabel("posterior mean weight w_i (draws after warm-up, all chains)")
    ax.set_ylabel("number of instances")
    ax.legend(title="group", fontsize=8, loc="upper right", bbox_to_anchor=(1.0, 0.9))
    prior_text = idata.posterior.attrs.get("prior", "")
    ax.set_title(
        title or "final weights by group" + (f"\nprior {prior_text}" if prior_text else "")
    )
    fig.tight_layout()
    return fig


def _prior_beta(spec: str) -> float | None:
    import json

    try:
        d = json.loads(spec)
    except (TypeError, ValueError):
        return None
    return float(d["beta"]) if d.get("name") == "truncated_normal" else None


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
    """Trace plot (``kind="trace"``): per chosen instance, the density of its weight over the
    draws after warm-up (one line per chain, left) and its value at every traced training step
    (right, warm-up shaded). Rank plot (``"rank"``): ArviZ's, on the draws after warm-up."""
    from bayes_dps.diagnostics.arviz_export import arviz
    from bayes_dps.diagnostics.convergence import warmup_draws

    chosen = instances if instances is not None else chosen_instances(idata)
    start = warmup_draws(idata)
    post = idata.posterior
    group_of = {}
    if "constant_data" in idata.groups():
        group_of = dict(
            zip(
                post["w"].coords["instance"].values.tolist(),
                idata.constant_data["group"].values.tolist(),
                strict=True,
            )
        )
    label = ", ".join(f"{i} ({group_of[i]})" if i in group_of else str(i) for i in chosen)
    if kind == "rank":
        kept = idata.sel(draw=slice(int(post["draw"].values[start]), None))
        axes = arviz().plot_rank(
            kept, var_names=["w"], coords={"instance": chosen}, figsize=(3.4 * len(chosen), 3.4)
        )
        axes = np.atleast_1d(axes)
        fig = axes.flat[0].figure
        for ax in axes.flat:
            ax.set_xlabel("rank over all chains (draws after warm-up)", fontsize=9)
            ax.set_ylabel("chain", fontsize=9)
            ax.title.set_fontsize(10)
        fig.suptitle(f"rank plot of the weights w_i of instances {label}")
        fig.tight_layout()
        return fig
    if kind != "trace":
        raise ValueError(f"kind must be 'trace' or 'rank', got {kind!r}")
    steps = post["draw"].values
    fig, axes = plt.subplots(len(chosen), 2, figsize=(11, 2.3 * len(chosen)), squeeze=False)
    for row, inst in zip(axes, chosen, strict=True):
        trace = post["w"].sel(instance=inst).values  # (chain, draw)
        bins = np.linspace(0, max(1.0, float(trace.max())), 31)
        for c, chain in enumerate(trace):
            row[0].hist(chain[start:], bins=bins, histtype="step", density=True,
                        color=f"C{c}", label=f"chain {post.chain.values[c]}")  # fmt: skip
            row[1].plot(steps, chain, color=f"C{c}", linewidth=1)
        if start > 0:
            row[1].axvspan(steps[0], steps[start], color="grey", alpha=0.15, label="warm-up")
        name = f"w_{inst}" + (f" ({group_of[inst]})" if inst in group_of else "")
        row[0].set_ylabel(f"{name}\ndensity", fontsize=9)
        row[1].set_ylabel(name, fontsize=9)
    axes[-1][0].set_xlabel("weight w_i (draws after warm-up)")
    axes[-1][1].set_xlabel("training step")
    fig.suptitle(f"trace of the weights w_i of instances {label}")
    # one legend for every panel, in the margin on the right: it never covers a trace
    handles = [*axes[0][0].get_legend_handles_labels()[0], *axes[0][1].patches[:1]]
    names = [h.get_label() for h in handles]
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    fig.legend(handles, names, loc="upper left", bbox_to_anchor=(0.87, 0.93), fontsize=8)
    return fig
