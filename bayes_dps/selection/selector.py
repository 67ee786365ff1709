"""Online batch selection inside any PyTorch training loop (Deng et al. 2023, Algorithm 1).

    selector = OnlineSelector(model, "bayesian", predictor=ModelPredictor(val_model),
                              alpha=0.3, n_e=500)
    for x, y, idx in loader:                      # a big batch B_t of n_B points
        sel = selector.select(x, y, idx, n_b=32)  # b_t: positions (+ importance weights)
        loss = F.cross_entropy(model(x[sel.positions]), y[sel.positions], reduction="none")
        loss = (loss * sel.weights).mean() if sel.weights is not None else loss.mean()
        opt.zero_grad(); loss.backward(); opt.step()
        selector.update(x, y, idx, sel)           # posterior update (Eq. 13) after the step

Every rule of :data:`bayes_dps.selection.registry.RULES` is available by name with the same
interface, or pass a :class:`~bayes_dps.selection.base.SelectionRule` instance. Tensors stay
on the device they arrive on: the selector moves nothing between devices.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import nn

from bayes_dps import distributed as dist
from bayes_dps.errors import ConfigError, DataError
from bayes_dps.models.batchnorm import frozen_running_stats
from bayes_dps.models.likelihoods import upcast
from bayes_dps.models.modes import train_mode
from bayes_dps.selection.base import BigBatch, Selection, SelectionRule
from bayes_dps.selection.predictors.base import Predictor
from bayes_dps.selection.registry import RULES, build_rule, predictor_for


def untimed(phase: str) -> AbstractContextManager:
    """The default phase timer: times nothing."""
    return nullcontext()


class OnlineSelector:
    """Chooses ``b_t ⊂ B_t`` for a model with ``forward_with_features`` (features + linear head).

    Args:
        model: the network being trained (its head is the last layer of the KFAC posterior).
        rule: a rule name (``bayesian`` = Eq. 16 with the last-layer KFAC Laplace posterior of
            Eq. 13; ``uniform``, ``train_loss``, ``grad_norm``, ``grad_norm_is``, ``svp``,
            ``irreducible_loss``, ``rho_loss``, ``rho_loss_zs``) or a ``SelectionRule``.
        predictor: ``f̃`` (zero-shot or validation model) for rules that need one.
        seed: the rule's random generator (uniform, importance sampling, posterior draws).
        check_inputs: validate every batch given to :meth:`select` (labels in range, lengths,
            ``n_b``) and the rule's scores (finite); the package's own loop turns these off —
            its data were checked when loaded, the checks read values back to the host every
            step, and a non-finite score shows as a non-finite loss at the epoch's end.
        timer: ``timer(phase)`` gives a context that times a phase of a step (``scoring_forward``,
            ``selection``); the package's loop hands in its profiler.
        **hyper: the Bayesian rule's settings (``BayesianSettings``: ``alpha`` — Eq. 16's α —
            ``n_e``, ``tau0``, ``momentum`` of the KFAC posterior, ``num_samples`` S,
            ``adaptive_alpha``, ...).
    """

    def __init__(
        self,
        model: nn.Module,
        rule: str | SelectionRule = "bayesian",
        predictor: Predictor | None = None,
        *,
        seed: int = 0,
        check_inputs: bool = True,
        autocast=nullcontext,
        timer: Callable[[str], AbstractContextManager] = untimed,
        **hyper: Any,
    ) -> None:
        if not hasattr(model, "forward_with_features"):
            raise ConfigError(
                "OnlineSelector needs a model with forward_with_features(x) -> (logits, "
                "features) and a linear `head` (see bayes_dps.models.base.FeatureHeadModel)"
            )
        self.model = model
        if isinstance(rule, str):
            if rule not in RULES:
                raise ConfigError(f"unknown rule {rule!r}; choose from {', '.join(RULES)}")
            kind = predictor_for(rule)
            device = next(model.parameters()).device
            rule = build_rule(
                rule,
                predictors={kind: predictor} if kind and predictor is not None else None,
                num_classes=model.head.out_features,
                seed=seed,
                config={"bayesian": hyper},
                feature_dim=model.head.in_features,
                device=device,
            )
        self.rule = rule
        self.num_classes = int(model.head.out_features)
        self.check_inputs = check_inputs
        self.autocast = autocast
        self.timer = timer
        if hasattr(self.rule, "check_finite"):
            self.rule.check_finite = check_inputs

    @torch.no_grad()
    def scoring_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and features with ``x``'s own BatchNorm statistics, running stats kept.

        Distributed (every process holding the same ``B_t``), each process runs the forward on
        its equal part of ``x`` and the parts' logits and features are gathered: every process
        then scores and selects on the whole batch, identically. (BatchNorm statistics are then
        those of each part, as in data-parallel training without SyncBatchNorm.)"""
        part = x[dist.shard(len(x))] if dist.active() else x
        with train_mode(self.model), frozen_running_stats(self.model), self.autocast():
            logits, feats = self.model.forward_with_features(part)
        logits, feats = upcast(logits), upcast(feats)
        if dist.active():
            logits, feats = dist.all_gather_cat(logits), dist.all_gather_cat(feats)
        return logits, feats

    def check_batch(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, n_b: int) -> None:
        """The one validation of ``select``'s input, for every rule: ``1 <= n_b <= |B_t|``,
        matching lengths, integer labels in ``[0, k)``."""
        n = len(y)
        if isinstance(n_b, bool) or not isinstance(n_b, int) or not 1 <= n_b <= n:
            raise ConfigError(
                f"n_b={n_b!r} must be an integer between 1 and the big batch's size {n} "
                "(for a last, smaller batch pass min(n_b, len(y)))"
            )
        if len(x) != n or len(idx) != n:
            raise DataError(
                f"x, y and idx must have the same length, got {len(x)}, {n} and {len(idx)}"
            )
        if y.dtype in (torch.bool,) or y.is_floating_point() or y.is_complex():
            raise DataError(f"labels y must be integer class ids, got dtype {y.dtype}")
        k = self.num_classes
        if self.check_inputs and n and (int(y.min()) < 0 or int(y.max()) >= k):
            bad = y[(y < 0) | (y >= k)][0]
            raise DataError(
                f"label {int(bad)} is outside [0, {k}): the model's head has {k} outputs"
            )

    def select(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, n_b: int) -> Selection:
        """``n_b`` positions of ``B_t = (x, y, idx)`` (and importance weights where the rule
        has them) — one scoring forward pass, no gradient, no parameter change."""
        self.check_batch(x, y, idx, n_b)
        batch = BigBatch(x, y, idx)
        if self.rule.needs_forward:
            with self.timer("scoring_forward"):
                batch.logits, batch.features = self.scoring_forward(x)
        with self.timer("selection"):
            return self.rule.select(batch, n_b)

    def update(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        idx: torch.Tensor,
        selection: Selection,
        *,
        logits: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
    ) -> None:
        """After the optimiser step on ``b_t``: update the rule's state (the KFAC factors of
        Eq. 13 for ``bayesian``). ``x, y, idx`` are the big batch as given to :meth:`select`;
        pass the training forward's ``logits``/``features`` of ``b_t`` to save a forward."""
        pos = selection.positions
        if logits is None or features is None:
            logits, features = self.scoring_forward(x[pos])
        chosen = BigBatch(x[pos], y[pos], idx[pos], logits.detach(), features.detach())
        self.rule.update(chosen, selection)

    def state_dict(self) -> dict[str, Any]:
        return self.rule.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rule.load_state_dict(state)
