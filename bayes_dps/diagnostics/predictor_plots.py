"""Why a selection rule that leans on a second predictor wins or loses: one figure from an
online run's ``results.json``.

Four panels, each drawn when the run recorded what it needs:

(a) the predictor's reliability diagram, cross-fitted on the curated set (accuracy against
    confidence per bin; a calibrated predictor lies on the diagonal) — ``predictor_check``;
(b) accuracy on the curated set over epochs: the model being trained (per method, mean over
    seeds) against the predictor's cross-fitted accuracy, with the epoch at which the predictor
    check fired — ``predictor_check``;
(c) the mean of each summand of Eq. 16 over the selected points, per epoch (``model``:
    ``α·E_q log p(y|f)``, ``predictor``: ``(1−α)·log p(y|f̃)``, ``log_predictive``:
    ``−log E_q p(y|f)``) — ``score_terms``;
(d) the share of selected points with a corrupted label, per epoch and method —
    ``selected_noisy_per_epoch``.
"""

from __future__ import annotations

import warnings
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from bayes_dps.diagnostics.plots import MARKERS, STYLES, describe_scenario

TERMS = (
    ("model", "α·E_q log p(y|f)  (model)"),
    ("predictor", "(1−α)·log p(y|f̃)  (predictor)"),
    ("log_predictive", "−log E_q p(y|f)  (log predictive)"),
)


def _runs(results: dict[str, Any], key: str) -> dict[str, list[dict[str, Any]]]:
    """``{method: its seeds' runs}`` for the methods whose runs all carry ``key``."""
    out = {}
    for name, method in results["methods"].items():
        runs = method.get("seeds", [])
        if runs and all(run.get(key) for run in runs):
            out[name] = runs
    return out


def has_predictor_diagnosis(results: dict[str, Any]) -> bool:
    """Whether any method recorded what :func:`plot_predictor_diagnosis` draws."""
    return any(_runs(results, key) for key in ("predictor_check", "score_terms"))


def _mean_curve(rows: list[list[float | None]]) -> np.ndarray:
    """Mean over seeds per epoch (``None`` entries, e.g. fall-back epochs, left out)."""
    width = max(len(r) for r in rows)
    grid = np.full((len(rows), width), np.nan)
    for i, row in enumerate(rows):
        grid[i, : len(row)] = [np.nan if v is None else v for v in row]
    with warnings.catch_warnings():  # an epoch with no value in any seed stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(grid, axis=0)


def _label(
    ax: plt.Axes, xlabel: str, ylabel: str, title: str, legend: str = "best", grid: bool = True
) -> None:
    """A panel's axis labels, title and small legend (the four panels read alike)."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc=legend)
    if grid:
        ax.grid(alpha=0.3)


def _colour(results: dict[str, Any], name: str) -> str:
    """The method's colour, the same in every panel (its place in the run's methods)."""
    return f"C{list(results['methods']).index(name) % 10}"


def _reliability_panel(ax: plt.Axes, results: dict[str, Any]) -> None:
    checked = _runs(results, "predictor_check")
    quality = next(iter(checked.values()))[0]["predictor_check"][0]["predictor"]
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="calibrated")
    diagram = quality.get("reliability")
    if diagram:
        bins = len(diagram["count"])
        keep = [i for i, n in enumerate(diagram["count"]) if n]
        width = 1.0 / bins
        ax.bar(
            [(i + 0.5) * width for i in keep],
            [diagram["accuracy"][i] for i in keep],
            width=0.9 * width,
            alpha=0.6,
            label="accuracy per confidence bin",
        )
        ax.plot(
            [diagram["confidence"][i] for i in keep],
            [diagram["accuracy"][i] for i in keep],
            "o",
            color="C1",
            markersize=4,
            label="(mean confidence, accuracy)",
        )
        for i in keep:
            ax.annotate(
                str(diagram["count"][i]), ((i + 0.5) * width, 0.02), ha="center", fontsize=6
            )
    else:
        ax.text(0.5, 0.5, "no reliability diagram recorded\n(a cache from before 0.3)",
                ha="center", va="center", fontsize=8, transform=ax.transAxes)  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    title = (
        f"(a) predictor, cross-fitted: acc {quality['acc']:.2f}, NLL {quality['nll']:.2f}, "
        f"ECE {quality['ece']:.2f}"
    )
    _label(ax, "predictor's confidence (top class)", "accuracy on held-out curated points",
           title, legend="upper left", grid=False)  # fmt: skip


def _judges_panel(ax: plt.Axes, results: dict[str, Any]) -> None:
    checked = _runs(results, "predictor_check")
    predictor_acc = next(iter(checked.values()))[0]["predictor_check"][0]["predictor"]["acc"]
    fired_at: dict[int, list[str]] = {}
    for i, (name, runs) in enumerate(checked.items()):
        curve = _mean_curve([[e["model"]["acc"] for e in r["predictor_check"]] for r in runs])
        epochs = np.arange(1, len(curve) + 1)
        ax.plot(epochs, curve, STYLES[i % 4], marker=MARKERS[i % 9], markersize=3,
                color=_colour(results, name), label=f"model trained by {name}")  # fmt: skip
        fired = [r.get("predictor_check_fired_at_epoch") for r in runs]
        for epoch in sorted({f for f in fired if f is not None}):
            n = sum(f == epoch for f in fired)
            fired_at.setdefault(epoch, []).append(f"{name} {n}/{len(runs)}")
    for epoch, who in fired_at.items():  # one line and one label per epoch
        ax.axvline(epoch, color="dimgrey", linestyle=":", linewidth=1)
        ax.annotate(f"check fired: {', '.join(who)} seeds", (epoch, 0.03), rotation=90,
                    fontsize=7, color="dimgrey", xytext=(2, 0),
                    textcoords="offset points")  # fmt: skip
    ax.axhline(predictor_acc, color="black", linestyle="--", linewidth=1,
               label=f"predictor, cross-fitted ({predictor_acc:.2f})")  # fmt: skip
    ax.set_ylim(0, 1.05)
    _label(ax, "epoch", "accuracy on the curated set", "(b) who judges labels better",
           legend="lower right")  # fmt: skip


def _terms_panel(ax: plt.Axes, results: dict[str, Any]) -> None:
    scored = _runs(results, "score_terms")
    width = 1
    for i, (name, runs) in enumerate(scored.items()):
        for j, (key, label) in enumerate(TERMS):
            rows = [[None if e is None else e[key] for e in r["score_terms"]] for r in runs]
            curve = _mean_curve(rows)
            width = max(width, len(curve))
            prefix = f"{name}: " if len(scored) > 1 else ""
            ax.plot(np.arange(1, len(curve) + 1), curve, STYLES[i % 4], color=f"C{j + 2}",
                    marker=MARKERS[j], markersize=3, label=prefix + label)  # fmt: skip
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.set_xlim(0.5, width + 0.5)
    _label(ax, "epoch (none drawn: epochs selected by the fall-back)",
           "mean over the selected points (nats)",
           "(c) Eq. 16's summands in the selected set")  # fmt: skip


def _picks_panel(ax: plt.Axes, results: dict[str, Any]) -> None:
    picks = _runs(results, "selected_noisy_per_epoch")
    for i, (name, runs) in enumerate(picks.items()):
        curve = _mean_curve([r["selected_noisy_per_epoch"] for r in runs])
        ax.plot(np.arange(1, len(curve) + 1), curve, STYLES[i % 4], marker=MARKERS[i % 9],
                markersize=3, color=_colour(results, name), label=name)  # fmt: skip
    noise = results["config"].get("dataset", {}).get("noise")
    if noise:
        ax.axhline(noise, color="grey", linestyle="--", linewidth=0.8,
                   label=f"noise rate of the data ({noise:.0%})")  # fmt: skip
    ax.set_ylim(0, 1.0)
    _label(ax, "epoch", "label-noise share of the selected points",
           "(d) what gets picked over time")  # fmt: skip


def plot_predictor_diagnosis(results: dict[str, Any], title: str | None = None) -> plt.Figure:
    """The figure of the module docstring; raises ``ValueError`` when the run recorded none of
    it (no method with a holdout predictor or Bayesian scores)."""
    checked = _runs(results, "predictor_check")
    scored = _runs(results, "score_terms")
    if not checked and not scored:
        raise ValueError(
            "the run recorded no predictor check and no score terms: it needs a method with a "
            "holdout-trained predictor (bayesian, rho_loss) and predictor_check.enabled=true"
        )
    panels = [
        *([_reliability_panel, _judges_panel] if checked else []),
        *([_terms_panel] if scored else []),
        _picks_panel,
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.3))
    for ax, panel in zip(np.atleast_1d(axes), panels, strict=True):
        panel(ax, results)
    cfg = results["config"]
    fig.suptitle(
        title
        or f"{cfg.get('name') or 'online'}: the predictor and the selection "
        f"({describe_scenario(cfg)}; mean over seeds)"
    )
    fig.tight_layout()
    return fig
