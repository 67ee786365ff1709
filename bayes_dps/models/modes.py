"""A network in training or evaluation mode for a block, its own mode restored after.

with eval_mode(model):      # dropout off, BatchNorm with running statistics
    logits = model(x)
with base_mode(model):      # the same, and a LoRA-adapted model's adapters switched off
    states = model(x)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

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


@contextmanager
def base_mode(model: nn.Module) -> Iterator[nn.Module]:
    """:func:`eval_mode` with a PEFT model's adapters disabled: the frozen pretrained base
    (for models without adapters, just evaluation mode)."""
    disable = getattr(model, "disable_adapter", None)
    with eval_mode(model), disable() if disable is not None else nullcontext():
        yield model
