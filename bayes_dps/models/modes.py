"""A network in training or evaluation mode for a block, its own mode restored after.

with eval_mode(model):      # dropout off, BatchNorm with running statistics
    logits = model(x)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def mode(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    """``model.train(training)`` inside the block; the previous mode on exit."""
    was_training = model.training
    model.train(training)
    try:
        yield model
    finally:
        model.train(was_training)


def eval_mode(model: nn.Module):
    """:func:`mode` with ``training=False``."""
    return mode(model, False)


def train_mode(model: nn.Module):
    """:func:`mode` with ``training=True``."""
    return mode(model, True)
