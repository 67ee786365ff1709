"""Weight chains as ArviZ ``InferenceData``: ``posterior`` variable ``w`` with dims
``(chain, draw, instance)``, ``sample_stats`` (``lp`` = minibatch log joint, ``step_size``)
per draw, and each instance's ground-truth group in ``constant_data`` — so ``az.summary``,
``az.rhat``, ``az.ess``, ``az.plot_trace`` and ``az.plot_rank`` work as usual."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def arviz() -> Any:
    """ArviZ, imported on first use (it is slow to import and announces a refactor)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


def weights_to_inference_data(
    traces: Sequence[np.ndarray],
    instances: np.ndarray,
    groups: np.ndarray | None = None,
    *,
    thin: int = 1,
    sample_stats: Sequence[Mapping[str, Sequence[float]]] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> Any:
    """``traces``: one ``(draw, instance)`` array per chain; ``sample_stats``: per chain, a
    mapping from statistic name to one value per draw. Chains are cut to the shortest. The
    ``draw`` coordinate is the training step of each draw. ``attrs`` (numbers and strings)
    are stored on the posterior group — the package records ``warmup_steps`` (the start of
    the running-average window, used by the diagnostics) and the weight ``prior`` (JSON)."""
    draws = min(len(t) for t in traces)
    w = np.stack([np.asarray(t)[:draws] for t in traces])  # (chain, draw, instance)
    stats = None
    if sample_stats:
        names = set.intersection(*(set(s) for s in sample_stats))
        stats = {
            k: np.stack([np.asarray(s[k], dtype=float)[:draws] for s in sample_stats])
            for k in sorted(names)
        }
    constant = None
    if groups is not None:
        constant = {"group": np.asarray(groups).astype(str)}
    idata = arviz().from_dict(
        posterior={"w": w},
        sample_stats=stats,
        coords={"instance": np.asarray(instances), "draw": np.arange(draws) * thin},
        dims={"w": ["instance"], "group": ["instance"]},
        constant_data=constant,
    )
    idata.posterior.attrs.update({k: v for k, v in (attrs or {}).items() if v is not None})
    return idata
