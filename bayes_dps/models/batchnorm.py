"""BatchNorm for scoring passes (RHO-LOSS / Deng et al. App. B.3).

The scoring forward over the big batch ``B_t`` normalises with ``B_t``'s own statistics (train
mode) but must leave the running statistics as they were; the training step on ``b_t`` then
updates them with ``b_t``'s statistics.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def frozen_running_stats(model: nn.Module) -> Iterator[None]:
    """Inside the block, BatchNorm layers may update running stats; on exit they are restored."""
    layers = [
        m
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    saved = [
        (m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
        for m in layers
    ]
    try:
        yield
    finally:
        for m, (mean, var, count) in zip(layers, saved, strict=True):
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(count)
