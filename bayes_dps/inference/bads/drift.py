"""The drift of the weights, ``d_i = ℓ_i − γ ℓ̄_i``, centred by an empirical-Bayes baseline, and
its per-group statistics.

**Centring** (``bads.drift_centring: running_mean``). The ``w`` moves target
``log p(w_i) + ρ_w w_i d_i``. For a likelihood of any size, ``d_i`` is far from 0 for every
point (a per-token NLL of several nats; a per-example ``log p(y|x)`` of a model early in
training), so the tilt ``ρ_w w_i d_i`` pushes all weights the same way and the weights carry
the scale of ``ℓ``, not the differences between points. Subtracting a constant ``b``,

    log p(w_i) + ρ_w w_i (d_i − b)  =  [log p(w_i) − ρ_w b w_i] + ρ_w w_i d_i,

is the same model with the prior exponentially tilted by ``−ρ_w b``: for ``TN(β, σ)`` on
``[0, 1]`` exactly ``TN(β − σ² ρ_w b, σ)`` (complete the square), for ``Beta(a, b)`` a tilted
Beta. Choosing ``b`` as the mean drift over ``D_t`` is the moment-matching (empirical-Bayes)
choice of that prior: it puts the average point's conditional mode at ``β`` and lets
``d_i − b`` — how much better or worse ``θ`` fits ``z_i`` than it fits the average point —
move the weights. ``b`` is estimated online as an exponential moving average of the global
batch's mean drift, ``b ← m·b + (1 − m)·mean_{i∈B_t} d_i`` (the first batch copies); a
constant ``b`` gives exactly the re-centred model, a slowly moving one follows its target as
``θ`` learns. ``θ``'s move does not see ``b`` (it reads ``w`` only).

**Per-group statistics** (``BADSBlock``, recorded as ``group_drift`` in ``results.json``): per
ground-truth group, the mean over the block's visits of ``ℓ_i`` under ``θ``, ``ℓ̄_i`` under ``θ'``
(``γ > 0``), the drift that moved the weights and its standard deviation — the spread between
groups that the weights can read, against the drift's noise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from bayes_dps import distributed as dist

CENTRINGS = ("none", "running_mean")


class DriftCentring:
    """``d_i − b`` with ``b`` the running mean of the drift (module docstring)."""

    def __init__(self, momentum: float = 0.99, device: torch.device | str = "cpu") -> None:
        self.momentum = float(momentum)
        self.b = torch.zeros((), device=device)
        self.updates = 0

    def __call__(self, drift: torch.Tensor) -> torch.Tensor:
        """Update ``b`` with this batch (all ranks' points) and return the centred drift."""
        # the count is filled on the device (no host-to-device copy per step)
        total = torch.stack(
            [drift.float().sum(), drift.new_full((), len(drift), dtype=torch.float)]
        )
        dist.all_reduce_sum_([total])  # the global batch (no-op in one process)
        mean = total[0] / total[1]
        m = self.momentum if self.updates else 0.0
        self.b.mul_(m).add_((1 - m) * mean.detach())
        self.updates += 1
        return drift - self.b

    def state_dict(self) -> dict[str, Any]:
        return {"b": self.b.clone(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.b.copy_(state["b"])
        self.updates = int(state["updates"])


class GroupDrift:
    """Device-side sums, per group, of ``ℓ_i``, ``ℓ̄_i``, ``d_i`` and ``d_i²`` over the visits
    since the last :meth:`read` (one gather and one ``(G × b) @ (b × 5)`` product a step)."""

    def __init__(self, masks: dict[str, np.ndarray], device: torch.device | str = "cpu") -> None:
        self.names = list(masks)
        self.member = torch.as_tensor(np.stack([masks[g] for g in self.names]), device=device,
                                      dtype=torch.float32)  # fmt: skip
        self.sums = torch.zeros(len(self.names), 5, device=device)

    def observe(
        self, idx: torch.Tensor, ll: torch.Tensor, ll_aux: torch.Tensor | None, drift: torch.Tensor
    ) -> None:
        aux = torch.zeros_like(ll) if ll_aux is None else ll_aux
        cols = torch.stack([torch.ones_like(ll), ll, aux, drift, drift.square()], dim=1)
        self.sums += self.member[:, idx] @ cols.float()

    def read(self) -> dict[str, dict[str, float | None]]:
        """``{group: {ll, ll_aux, drift, drift_sd}}`` means since the last call (``None`` for a
        group not visited); resets the sums."""
        dist.all_reduce_sum_([self.sums])  # every rank's visits
        sums = self.sums.double().cpu().tolist()  # plain floats (checkpoints hold no numpy)
        self.sums.zero_()
        out: dict[str, dict[str, float | None]] = {}
        for g, (n, ll, aux, d, d2) in zip(self.names, sums, strict=True):
            if n == 0:
                out[g] = {"ll": None, "ll_aux": None, "drift": None, "drift_sd": None}
                continue
            var = max(d2 / n - (d / n) ** 2, 0.0)
            means = {"ll": ll / n, "ll_aux": aux / n, "drift": d / n, "drift_sd": var**0.5}
            # a diverged chain's statistics are recorded as missing (JSON has no NaN)
            out[g] = {k: v if math.isfinite(v) else None for k, v in means.items()}
        return out


class Drift:
    """The drift the weight move reads, ``d_i = ℓ_i − γ ℓ̄_i``, centred when asked
    (``centring``: ``none`` or ``running_mean``) and summed per group once :meth:`watch` is
    called."""

    def __init__(
        self, gamma: float, centring: str = "none", momentum: float = 0.99, device="cpu"
    ) -> None:
        if centring not in CENTRINGS:
            raise ValueError(f"drift centring {centring!r}; choose from {CENTRINGS}")
        self.gamma, self.device = gamma, device
        self.centring = DriftCentring(momentum, device) if centring == "running_mean" else None
        #: per-group statistics (``None`` until :meth:`watch`)
        self.groups: GroupDrift | None = None

    def __call__(
        self, idx: torch.Tensor, ll: torch.Tensor, ll_aux: torch.Tensor | None
    ) -> torch.Tensor:
        drift = ll if ll_aux is None else ll - self.gamma * ll_aux
        if self.centring is not None:
            drift = self.centring(drift)
        if self.groups is not None:
            self.groups.observe(idx, ll, ll_aux, drift)
        return drift

    def watch(self, masks: dict[str, np.ndarray]) -> None:
        self.groups = GroupDrift(masks, self.device)

    def state_dict(self) -> dict[str, Any]:
        return {} if self.centring is None else {"centring": self.centring.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.centring is not None:
            self.centring.load_state_dict(state["centring"])
