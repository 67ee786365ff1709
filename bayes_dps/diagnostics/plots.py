"""Figures of a run, drawn from its ``results.json`` (matplotlib, Agg backend)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

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
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return fig
