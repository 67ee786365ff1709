"""What a weight sampler keeps of its chain: the running average of ``w`` (the BADS paper's
selection statistic, averaged over the steps after ``average_from`` — the last ``S_avg`` steps
of a run of known length) and a thinned trace of ``w`` with per-draw statistics such as the
log joint (all instances up to ``max_instances``, else a fixed random subset).

Everything stays on the device of ``w`` while the chain runs — no host synchronisation per
step — and is copied to the host only when read (``trace``, ``stats``, ``average``) or
checkpointed.
"""

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
    device: where the running sum and the trace are kept.
    """

    def __init__(
        self,
        n_t: int,
        average_from: int = 0,
        thin: int = 1,
        max_instances: int = 100_000,
        seed: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        self.avg_from, self.thin = int(average_from), int(thin)
        self.instances = (
            np.arange(n_t)
            if n_t <= max_instances
            else np.sort(np.random.default_rng(seed).choice(n_t, max_instances, replace=False))
        )
        self.device = torch.device(device)
        self._subset = torch.as_tensor(self.instances, device=self.device)
        self.sum = torch.zeros(n_t, device=self.device)
        self.count = 0
        self._trace: list[torch.Tensor] = []
        self._stats: dict[str, list] = {}

    def record(self, step: int, w: torch.Tensor, **stats) -> None:
        """Called after global step ``step`` (0-based) with the current ``w`` and per-step
        statistics (numbers or 0-d tensors, e.g. ``lp`` = log joint) kept with each draw."""
        if step >= self.avg_from:
            self.sum += w.detach()
            self.count += 1
        if step % self.thin == 0:
            self._trace.append(w.detach()[self._subset].clone())
            for k, v in stats.items():
                self._stats.setdefault(k, []).append(v.detach() if torch.is_tensor(v) else v)

    @property
    def trace(self) -> list[np.ndarray]:
        """The thinned draws, one ``(traced instances,)`` array each."""
        return [t.cpu().numpy() for t in self._trace]

    @property
    def stats(self) -> dict[str, list[float]]:
        return {k: [float(v) for v in vals] for k, vals in self._stats.items()}

    @property
    def average(self) -> torch.Tensor:
        """Mean of ``w`` over the recorded steps from ``average_from`` on (zeros before), on
        the CPU."""
        return (self.sum / max(self.count, 1)).cpu()

    def state_dict(self) -> dict:
        return {
            "sum": self.sum.cpu(),
            "count": self.count,
            "trace": self.trace,
            "stats": self.stats,
        }

    def load_state_dict(self, state: dict) -> None:
        self.sum = torch.as_tensor(state["sum"]).to(self.device)
        self.count = int(state["count"])
        self._trace = [torch.as_tensor(np.asarray(t)).to(self.device) for t in state["trace"]]
        self._stats = {k: list(v) for k, v in state.get("stats", {}).items()}


def top_fraction(w: torch.Tensor, fraction: float) -> list[int]:
    """Sorted indices of the ``round(fraction · N)`` largest weights."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    k = max(1, round(fraction * len(w)))
    return sorted(torch.topk(w.detach().cpu(), k).indices.tolist())
