"""Plots and (with their issues) ArviZ export and reports."""

from bayes_dps.diagnostics.plots import plot_online_curves, save_figure

__all__ = ["plot_online_curves", "save_figure"]
