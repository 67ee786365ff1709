"""What a weight sampler keeps of its chain: the running average of ``w`` (the BADS paper's
selection statistic, averaged over the steps after ``average_from`` — the last ``S_avg`` steps
of a run of known length) and a thinned trace of ``w`` with per-draw statistics such as the
log joint (all instances up to ``max_instances``, else a fixed random subset).

Everything stays on the device of ``w`` while the chain runs — no host synchronisation per
step — and is copied to the host only when read (``trace``, ``stats``, ``average``) or
checkpointed.

The running sum is kept lazily, so a step costs ``O(|B_t|)`` and not ``O(N_t)`` (at ``N_t =
10⁷`` a dense ``sum += w`` was most of a BADS step): ``w_i`` changes only when ``i`` is in the
batch, so the recorder holds, per instance, the value ``held_i`` it had since the recorded
step ``last_i``, and

    Σ_t w_i(t) = sum_i + held_i · (count − last_i)

is brought up to date for ``i`` only when ``i`` changes (``record(…, changed=idx)``); a
``changed=None`` step (a weight network's refresh of every ``w_i``) updates all. The result
equals the dense sum up to float rounding.
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
        self._sum = torch.zeros(n_t, device=self.device)
        self._held = torch.zeros(n_t, device=self.device)
        self._last = torch.zeros(n_t, dtype=torch.int32, device=self.device)
        self._synced = False  # _held and _last not yet set from a full w
        self.count = 0
        self._trace: list[torch.Tensor] = []
        self._stats: dict[str, list] = {}

    def record(
        self, step: int, w: torch.Tensor, changed: torch.Tensor | None = None, **stats
    ) -> None:
        """Called after global step ``step`` (0-based) with the current ``w``, the indices
        whose weights changed since the previous call (``None``: any may have), and per-step
        statistics (numbers or 0-d tensors, e.g. ``lp`` = log joint) kept with each draw."""
        if step >= self.avg_from:
            w = w.detach()
            if changed is None or not self._synced:
                self._bring_up_to_date(slice(None), w)
                self._synced = True
            elif len(changed):
                self._bring_up_to_date(changed, w)
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

    def _bring_up_to_date(self, idx, w: torch.Tensor) -> None:
        """Add ``held_i`` for the recorded steps since ``last_i`` and hold ``i``'s new value
        from the current step on (``idx``: indices, or ``slice(None)`` for all)."""
        if self._synced:
            steps = (self.count - self._last[idx]).to(self._sum.dtype)
            self._sum[idx] += self._held[idx] * steps
        self._held[idx] = w[idx].to(self._held.dtype)
        self._last[idx] = self.count

    @property
    def sum(self) -> torch.Tensor:
        """``Σ_t w(t)`` over the recorded steps (materialised: ``O(N_t)``)."""
        if not self._synced:
            return self._sum.clone()
        return self._sum + self._held * (self.count - self._last).to(self._sum.dtype)

    @property
    def average(self) -> torch.Tensor:
        """Mean of ``w`` over the recorded steps from ``average_from`` on (zeros before), on
        the CPU."""
        return (self.sum / max(self.count, 1)).cpu()

    def state_dict(self) -> dict:
        """The lazy sum as it stands (``partial_sum``, ``last``): a chain resumed from it adds
        the same terms in the same order as one never interrupted, so its average is bitwise
        the same. ``held`` is not stored: between steps it equals ``w``, which the caller
        hands to :meth:`load_state_dict`."""
        return {
            "partial_sum": self._sum.cpu(),
            "last": self._last.cpu(),
            "synced": self._synced,
            "count": self.count,
            "trace": self.trace,
            "stats": self.stats,
        }

    def load_state_dict(self, state: dict, w: torch.Tensor | None = None) -> None:
        """Restore a :meth:`state_dict` with ``w``, the chain's weights at the checkpoint
        (``held`` of the lazy sum). A state of the earlier layout (``sum`` complete) needs no
        ``w``: the next :meth:`record` holds every instance's ``w`` afresh."""
        self.count = int(state["count"])
        if "partial_sum" in state and w is not None:
            self._sum = torch.as_tensor(state["partial_sum"]).to(self.device)
            self._last = torch.as_tensor(state["last"]).to(self.device)
            self._held = w.detach().to(self.device, self._held.dtype).clone()
            self._synced = bool(state["synced"])
        elif "partial_sum" in state:
            raise ValueError(
                "this recorder state keeps its running sum lazily: load it with the chain's "
                "weights, recorder.load_state_dict(state, w=weights)"
            )
        else:
            self._sum = torch.as_tensor(state["sum"]).to(self.device)
            self._synced = False
        self._trace = [torch.as_tensor(np.asarray(t)).to(self.device) for t in state["trace"]]
        self._stats = {k: list(v) for k, v in state.get("stats", {}).items()}


def top_fraction(w: torch.Tensor, fraction: float) -> list[int]:
    """Sorted indices of the ``round(fraction · N)`` largest weights."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    k = max(1, round(fraction * len(w)))
    return sorted(torch.topk(w.detach().cpu(), k).indices.tolist())
