"""Watching for NaN/inf without a host synchronisation per step.

The training loops and the samplers keep their statistics on the device; a non-finite loss or
log joint is remembered there (:class:`FirstNonFinite`, the first step it happened) and
reported once, at the end of an epoch or evaluation block, with the step and the fix.
"""

from __future__ import annotations

import math

import torch

from bayes_dps.errors import NumericalError


class FirstNonFinite:
    """The first step (0-based) at which an observed value was not finite, on the device."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.first = torch.full((), -1, dtype=torch.long, device=device)

    def observe(self, value: torch.Tensor, step: int) -> None:
        """Remember ``step`` if ``value`` is NaN/inf and nothing was remembered before."""
        bad = ~torch.isfinite(value)
        first = self.first
        self.first = torch.where((first < 0) & bad, torch.full_like(first, step), first)

    def raise_if_any(self, what: str) -> None:
        """Raise :class:`NumericalError` with ``what.format(step=<1-based step>)`` when a
        non-finite value was observed (one host sync)."""
        first = int(self.first)
        if first >= 0:
            raise NumericalError(what.format(step=first + 1))

    def reset(self) -> None:
        self.first.fill_(-1)


def mean_loss(total: torch.Tensor, count: int, where: str, fix: str) -> float:
    """``total / count``, read back to the host once per epoch or block (loops sum their
    losses on the device); a non-finite value raises :class:`NumericalError` naming ``where``
    (e.g. ``"in epoch 3"``) and the ``fix``."""
    loss = float(total) / max(count, 1)
    if not math.isfinite(loss):
        raise NumericalError(f"non-finite training loss {where}; {fix}")
    return loss
