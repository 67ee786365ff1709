"""ArviZ export of BADS weight traces: ``InferenceData`` with variable ``w`` and dims
``(chain, draw, instance)`` (chains = seeds), and each instance's ground-truth group in
``constant_data``, so ``az.summary`` / ``az.rhat`` / ``az.ess`` and trace plots work as usual."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bayes_dps.io import atomic_write


def arviz() -> Any:
    """ArviZ, imported on first use (it is slow to import and announces a refactor)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


def weights_to_inference_data(
    traces: Sequence[np.ndarray],
    instances: np.ndarray,
    groups: np.ndarray,
    *,
    thin: int = 1,
) -> Any:
    """``traces``: one ``(draw, instance)`` array per chain (seed)."""
    draws = min(len(t) for t in traces)
    w = np.stack([np.asarray(t)[:draws] for t in traces])  # (chain, draw, instance)
    return arviz().from_dict(
        posterior={"w": w},
        coords={"instance": np.asarray(instances), "draw": np.arange(draws) * thin},
        dims={"w": ["instance"], "group": ["instance"]},
        constant_data={"group": np.asarray(groups).astype(str)},
    )


def save_inference_data(idata: Any, path: str | Path) -> Path:
    """Write NetCDF atomically (to a temporary name, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    idata.to_netcdf(str(tmp))
    data = tmp.read_bytes()
    tmp.unlink()
    return atomic_write(path, lambda fh: fh.write(data))
