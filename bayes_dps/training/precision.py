"""Mixed precision: the autocast context of the forward passes."""

from __future__ import annotations

from contextlib import nullcontext

import torch

from bayes_dps.errors import ConfigError

PRECISIONS = ("32", "bf16-mixed", "16-mixed")


def autocast_for(precision: str | int, device: torch.device):
    """A factory of the forward passes' autocast context: ``32`` (none), ``bf16-mixed`` or
    ``16-mixed`` (float16; with a gradient scaler where an optimiser steps). Losses, the
    Laplace factors and their Cholesky factorisations, and every SG-MCMC update stay in
    float32 whatever the precision."""
    precision = str(precision)
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "32":
        return nullcontext
    dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float16
    return lambda: torch.autocast(device.type, dtype=dtype)
