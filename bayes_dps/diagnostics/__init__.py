"""Diagnostics: plots of runs and ArviZ export of BADS weight traces."""

from bayes_dps.diagnostics.arviz_export import save_inference_data, weights_to_inference_data
from bayes_dps.diagnostics.plots import (
    plot_bads_curves,
    plot_group_weights,
    plot_online_curves,
    plot_selection_stats,
    plot_sweep,
    save_figure,
)
from bayes_dps.diagnostics.predictor_plots import plot_predictor_diagnosis

__all__ = [
    "plot_bads_curves",
    "plot_group_weights",
    "plot_online_curves",
    "plot_predictor_diagnosis",
    "plot_selection_stats",
    "plot_sweep",
    "save_figure",
    "save_inference_data",
    "weights_to_inference_data",
]
