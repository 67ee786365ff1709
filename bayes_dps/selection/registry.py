"""Selection rules by name, as the ``methods`` list of an online config names them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bayes_dps.errors import ConfigError
from bayes_dps.selection.base import SelectionRule
from bayes_dps.selection.uniform import UniformSelection

RULES: dict[str, Callable[..., SelectionRule]] = {
    "uniform": lambda seed=0, **_: UniformSelection(seed=seed),
}


def build_rule(name: str, **kwargs: Any) -> SelectionRule:
    if name not in RULES:
        raise ConfigError(
            f"unknown selection method {name!r}; choose from {', '.join(sorted(RULES))}"
        )
    return RULES[name](**kwargs)
