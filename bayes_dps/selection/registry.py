"""Selection rules by name, as the ``methods`` list of an online config names them.

Each entry says which predictor it needs (``zero_shot``, ``holdout`` or ``proxy``); the
training layer builds those once per experiment and passes them in ``predictors``. An entry
may also name a ``data_filter`` that the experiment applies to ``D_t`` before training
(``cleanlab``: confident learning drops the flagged labels, then uniform selection).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bayes_dps.errors import ConfigError
from bayes_dps.inference.kfac_laplace import LastLayerKFACLaplace
from bayes_dps.selection.base import SelectionRule
from bayes_dps.selection.bayesian import BayesianSelection, BayesianSettings
from bayes_dps.selection.grad_norm import GradNormISSelection, GradNormSelection
from bayes_dps.selection.loss_based import (
    IrreducibleLossSelection,
    RhoLossSelection,
    TrainLossSelection,
)
from bayes_dps.selection.predictors.base import Predictor
from bayes_dps.selection.svp import SVPSelection
from bayes_dps.selection.uniform import UniformSelection


@dataclass(frozen=True)
class RuleSpec:
    build: Callable[..., SelectionRule]
    predictor: str | None = None
    data_filter: str | None = None


def _bayesian(*, predictor, seed, config, feature_dim, num_classes, device, **_):
    b = BayesianSettings.build(**config.get("bayesian", {}))
    posterior = LastLayerKFACLaplace(
        feature_dim, num_classes, n_e=b.n_e, tau0=b.tau0, momentum=b.momentum,
        refresh_every=b.refresh_every, variance_rank=b.variance_rank, device=device,
    )  # fmt: skip
    return BayesianSelection(
        posterior,
        predictor,
        alpha=b.alpha,
        estimator=b.estimator,
        log_predictive=b.log_predictive,
        num_samples=b.num_samples,
        adaptive_alpha=b.adaptive_alpha,
        seed=seed,
    )


RULES: dict[str, RuleSpec] = {
    "uniform": RuleSpec(lambda *, seed=0, **_: UniformSelection(seed)),
    "cleanlab": RuleSpec(
        lambda *, seed=0, **_: UniformSelection(seed), data_filter="confident_learning"
    ),
    "bayesian": RuleSpec(_bayesian, predictor="zero_shot"),
    "train_loss": RuleSpec(lambda **_: TrainLossSelection()),
    "grad_norm": RuleSpec(lambda **_: GradNormSelection()),
    "grad_norm_is": RuleSpec(lambda *, seed=0, **_: GradNormISSelection(seed)),
    "svp": RuleSpec(lambda *, predictor, **_: SVPSelection(predictor), predictor="proxy"),
    "irreducible_loss": RuleSpec(
        lambda *, predictor, **_: IrreducibleLossSelection(predictor), predictor="holdout"
    ),
    "rho_loss": RuleSpec(
        lambda *, predictor, **_: RhoLossSelection(predictor), predictor="holdout"
    ),
    "rho_loss_zs": RuleSpec(
        lambda *, predictor, **_: RhoLossSelection(predictor, name="rho_loss_zs"),
        predictor="zero_shot",
    ),
}


def predictor_for(name: str) -> str | None:
    """Which predictor rule ``name`` needs (``None`` for none)."""
    return _spec(name).predictor


def data_filter_for(name: str) -> str | None:
    """The filter rule ``name`` applies to the training set first (``None`` for none)."""
    return _spec(name).data_filter


def _spec(name: str) -> RuleSpec:
    if name not in RULES:
        raise ConfigError(
            f"unknown selection method {name!r}; choose from {', '.join(sorted(RULES))}"
        )
    return RULES[name]


def build_rule(
    name: str,
    *,
    predictors: dict[str, Predictor] | None = None,
    num_classes: int | None = None,
    **context: Any,
) -> SelectionRule:
    """Instantiate rule ``name``; ``context``: ``seed``, ``config``, ``feature_dim``, ``device``."""
    spec = _spec(name)
    predictor = None
    if spec.predictor is not None:
        predictor = (predictors or {}).get(spec.predictor)
        if predictor is None:
            raise ConfigError(f"method {name!r} needs a {spec.predictor} predictor")
        if num_classes is not None:
            predictor.check_classes(num_classes)
    return spec.build(predictor=predictor, num_classes=num_classes, **context)
