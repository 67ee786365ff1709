"""Summaries of runs: the Table-1 metrics (epochs and seconds to a target accuracy) and
means ± standard deviations over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def epochs_to_target(curve: Sequence[float], targets: Sequence[float]) -> dict[str, int | None]:
    """First epoch (1-based) whose test accuracy reaches each target; ``None`` if never."""
    out: dict[str, int | None] = {}
    for t in targets:
        hit = next((i + 1 for i, a in enumerate(curve) if a >= t - 1e-12), None)
        out[f"{t:.2f}"] = hit
    return out


def seconds_to_target(
    curve: Sequence[float], seconds: Sequence[float], targets: Sequence[float]
) -> dict[str, float | None]:
    """Training wall-clock (summed over epochs, evaluation excluded) until the test accuracy
    first reaches each target; ``None`` if never."""
    epochs = epochs_to_target(curve, targets)
    elapsed = np.cumsum(np.asarray(seconds, dtype=float))
    return {t: (None if e is None else float(elapsed[e - 1])) for t, e in epochs.items()}


def mean_std(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Mean and (population) standard deviation of the non-missing values, with their count."""
    vals = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "n": len(vals)}
