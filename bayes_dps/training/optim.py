"""Optimisers by name (the papers use AdamW, lr 1e-3, weight decay 0.01)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from bayes_dps.errors import ConfigError


def build_optimizer(
    params: Iterable[torch.nn.Parameter], spec: dict[str, Any]
) -> torch.optim.Optimizer:
    """``spec``: ``{name: adamw|adam|sgd, lr, weight_decay, momentum}``."""
    name = spec.get("name", "adamw")
    lr, wd = float(spec["lr"]), float(spec.get("weight_decay", 0.0))
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, weight_decay=wd, momentum=float(spec.get("momentum", 0.0))
        )
    raise ConfigError(f"unknown optimizer.name {name!r}; choose adamw, adam or sgd")
