"""What the integrations log at each of a trainer's logging steps (flat ``name: float``).

``SelectionLog`` (online selection): the mean of each summand of Eq. 16 over the points selected
since the last log (``selection/model``, ``selection/predictor``, ``selection/log_predictive``,
where the rule has them) and, per group mask given (e.g. the noisy labels), the share of the
selected points in it (``selection/<group>``). ``BADSLog``: the mean training loss and the last
log joint since the last log, the weights' mean, spread and share above one half, and each
group's mean weight (``bads/w/<group>``). Counts stay on the device between logs.
"""

from __future__ import annotations

import numpy as np
import torch

from bayes_dps.inference.bads import BADSSampler
from bayes_dps.selection.selector import OnlineSelector
from bayes_dps.tasks.groups import group_means


def _masks(groups: dict[str, np.ndarray] | None) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(np.asarray(v, dtype=bool)) for k, v in (groups or {}).items()}


class SelectionLog:
    def __init__(self, selector: OnlineSelector, groups: dict[str, np.ndarray] | None) -> None:
        self.selector, self.masks = selector, _masks(groups)
        self.counts: dict[str, torch.Tensor] = {}
        self.selected = 0

    def observe(self, selected_idx: torch.Tensor) -> None:
        for name, mask in self.masks.items():
            if mask.device != selected_idx.device:
                self.masks[name] = mask = mask.to(selected_idx.device)
            self.counts[name] = self.counts.get(name, 0) + mask[selected_idx].sum()
        self.selected += len(selected_idx)

    def read(self) -> dict[str, float]:
        stats = getattr(self.selector.rule, "epoch_stats", None)
        out = {f"selection/{k}": v for k, v in (stats() if stats else {}).items()}
        for name, count in self.counts.items():
            out[f"selection/{name}"] = float(count) / max(self.selected, 1)
        self.counts, self.selected = {}, 0
        return out


class BADSLog:
    def __init__(self, sampler: BADSSampler, groups: dict[str, np.ndarray] | None) -> None:
        self.sampler = sampler
        self.groups = {k: np.asarray(v, dtype=bool) for k, v in (groups or {}).items()}

    def read(self) -> dict[str, float]:
        s = self.sampler
        if s.num_steps == 0:
            return {}
        stats = s.read_statistics()
        w = s.w.detach()
        out = {
            "bads/train_loss": stats["loss"],
            "bads/log_joint": stats["log_joint"],
            "bads/w_mean": float(w.mean()),
            "bads/w_std": float(w.std()) if len(w) > 1 else 0.0,
            "bads/w_above_half": float((w > 0.5).float().mean()),
        }
        if self.groups:
            out |= {f"bads/w/{k}": v for k, v in group_means(w, self.groups).items()}
        return out
