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

from typing import Any

import torch
from torch import nn

from bayes_dps.errors import ConfigError
from bayes_dps.selection.base import BigBatch, Selection, SelectionRule
from bayes_dps.selection.predictors.base import Predictor
from bayes_dps.selection.registry import RULES, build_rule, predictor_for
from bayes_dps.training.batchnorm import frozen_running_stats

_HYPER = {"alpha", "n_e", "tau0", "momentum", "num_samples", "adaptive_alpha"}


class OnlineSelector:
    """Chooses ``b_t ⊂ B_t`` for a model with ``forward_with_features`` (features + linear head).

    Args:
        model: the network being trained (its head is the last layer of the KFAC posterior).
        rule: a rule name (``bayesian`` = Eq. 16 with the last-layer KFAC Laplace posterior of
            Eq. 13; ``uniform``, ``train_loss``, ``grad_norm``, ``grad_norm_is``, ``svp``,
            ``irreducible_loss``, ``rho_loss``, ``rho_loss_zs``) or a ``SelectionRule``.
        predictor: ``f̃`` (zero-shot or validation model) for rules that need one.
        seed: the rule's random generator (uniform, importance sampling, posterior draws).
        **hyper: the Bayesian rule's ``alpha`` (Eq. 16's α), ``n_e``, ``tau0``, ``momentum``
            (KFAC EMA), ``num_samples`` (S), ``adaptive_alpha``.
    """

    def __init__(
        self,
        model: nn.Module,
        rule: str | SelectionRule = "bayesian",
        predictor: Predictor | None = None,
        *,
        seed: int = 0,
        **hyper: Any,
    ) -> None:
        if not hasattr(model, "forward_with_features"):
            raise ConfigError(
                "OnlineSelector needs a model with forward_with_features(x) -> (logits, "
                "features) and a linear `head` (see bayes_dps.models.base.FeatureHeadModel)"
            )
        unknown = set(hyper) - _HYPER
        if unknown:
            raise ConfigError(f"unknown selector hyper-parameter(s) {sorted(unknown)}; "
                              f"known: {sorted(_HYPER)}")  # fmt: skip
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

    @torch.no_grad()
    def scoring_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and features with ``x``'s own BatchNorm statistics, running stats kept."""
        was_training = self.model.training
        self.model.train()
        with frozen_running_stats(self.model):
            out = self.model.forward_with_features(x)
        self.model.train(was_training)
        return out

    def select(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, n_b: int) -> Selection:
        """``n_b`` positions of ``B_t = (x, y, idx)`` (and importance weights where the rule
        has them) — one scoring forward pass, no gradient, no parameter change."""
        batch = BigBatch(x, y, idx)
        if self.rule.needs_forward:
            batch.logits, batch.features = self.scoring_forward(x)
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
