"""Plots and (with their issues) ArviZ export and reports."""

from bayes_dps.diagnostics.plots import (
    plot_online_curves,
    plot_selection_stats,
    plot_sweep,
    save_figure,
)

__all__ = ["plot_online_curves", "plot_selection_stats", "plot_sweep", "save_figure"]
