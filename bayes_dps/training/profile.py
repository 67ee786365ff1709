"""Where a step's time goes: wall-clock per named phase, summed over an epoch.

Off by default — timing a phase honestly means waiting for the device at its end, a host
synchronisation the loops otherwise avoid. ``profile: true`` in a config (or ``--profile``)
turns it on; ``results.json`` then holds the milliseconds per step of each phase.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from bayes_dps.training.devices import synchronize


class PhaseTimer:
    """``with timer("scoring"): ...`` adds the block's seconds to ``timer.seconds["scoring"]``
    (when enabled)."""

    def __init__(self, device: torch.device | str = "cpu", enabled: bool = False) -> None:
        self.device, self.enabled = torch.device(device), enabled
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        synchronize(self.device)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            synchronize(self.device)
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - t0

    def take(self) -> dict[str, float]:
        """The sums since the last call (and reset)."""
        out, self.seconds = self.seconds, {}
        return out
