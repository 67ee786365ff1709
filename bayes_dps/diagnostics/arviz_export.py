"""ArviZ export of BADS weight chains (built in :mod:`bayes_dps.inference.inference_data`) and
writing them to NetCDF atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bayes_dps.inference.inference_data import arviz, weights_to_inference_data
from bayes_dps.io import atomic_write

__all__ = ["arviz", "save_inference_data", "weights_to_inference_data"]


def save_inference_data(idata: Any, path: str | Path) -> Path:
    """Write NetCDF atomically (to a temporary name, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    idata.to_netcdf(str(tmp))
    data = tmp.read_bytes()
    tmp.unlink()
    return atomic_write(path, lambda fh: fh.write(data))
