"""What a weight sampler keeps of its chain: the running average of ``w`` (the BADS paper's
selection statistic, averaged over the steps after ``average_from`` — the last ``S_avg`` steps
of a run of known length) and a thinned trace of ``w`` with the log joint at each kept draw
(all instances up to ``max_instances``, else a fixed random subset)."""

from __future__ import annotations

import numpy as np
import torch


class WeightRecorder:
    """Args:
    n_t: number of instances ``N_t``.
    average_from: first (0-based) step counted in the running average.
    thin: keep every ``thin``-th step in the trace.
    max_instances: trace at most this many instances (a fixed random subset above).
    seed: picks that subset (the same seed gives the same subset, so chains line up).
    """

    def __init__(
        self,
        n_t: int,
        average_from: int = 0,
        thin: int = 1,
        max_instances: int = 100_000,
        seed: int = 0,
    ) -> None:
        self.avg_from, self.thin = int(average_from), int(thin)
        self.instances = (
            np.arange(n_t)
            if n_t <= max_instances
            else np.sort(np.random.default_rng(seed).choice(n_t, max_instances, replace=False))
        )
        self.sum = torch.zeros(n_t)
        self.count = 0
        self.trace: list[np.ndarray] = []
        self.stats: dict[str, list[float]] = {}

    def record(self, step: int, w: torch.Tensor, **stats: float) -> None:
        """Called after global step ``step`` (0-based) with the current ``w`` and per-step
        statistics (e.g. ``lp`` = log joint, ``step_size``) kept with each traced draw."""
        if step >= self.avg_from:
            self.sum += w.detach().cpu()
            self.count += 1
        if step % self.thin == 0:
            self.trace.append(w.detach().cpu().numpy()[self.instances].copy())
            for k, v in stats.items():
                self.stats.setdefault(k, []).append(float(v))

    @property
    def average(self) -> torch.Tensor:
        """Mean of ``w`` over the recorded steps from ``average_from`` on (zeros before)."""
        return self.sum / max(self.count, 1)

    def state_dict(self) -> dict:
        return {"sum": self.sum, "count": self.count, "trace": self.trace, "stats": self.stats}

    def load_state_dict(self, state: dict) -> None:
        self.sum, self.count, self.trace = state["sum"], state["count"], list(state["trace"])
        self.stats = {k: list(v) for k, v in state.get("stats", {}).items()}


def top_fraction(w: torch.Tensor, fraction: float) -> list[int]:
    """Sorted indices of the ``round(fraction · N)`` largest weights."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    k = max(1, round(fraction * len(w)))
    return sorted(torch.topk(w.detach().cpu(), k).indices.tolist())
