"""Import paths of bayes-dps 0.2 that moved in 0.3, kept working for one release.

``import bayes_dps.training.selector`` (say) gives the module at its new path,
``bayes_dps.selection.selector``, with a ``DeprecationWarning`` naming it. The aliases are
resolved here, at the package root, by an import hook — the folders themselves hold only
their own modules, so no layer imports upwards.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: old module path → new module path
MOVED = {
    "bayes_dps.training.selector": "bayes_dps.selection.selector",
    "bayes_dps.training.online": "bayes_dps.methods.online.loop",
    "bayes_dps.training.experiment": "bayes_dps.methods.online.experiment",
    "bayes_dps.training.predictors": "bayes_dps.methods.online.predictor_factory",
    "bayes_dps.training.bads": "bayes_dps.methods.bads.loop",
    "bayes_dps.training.bads_experiment": "bayes_dps.methods.bads.experiment",
    "bayes_dps.training.blo": "bayes_dps.methods.bads.blo",
    "bayes_dps.training.contrastive": "bayes_dps.methods.bads.contrastive",
    "bayes_dps.training.tasks": "bayes_dps.tasks",
    "bayes_dps.training.text_metrics": "bayes_dps.tasks.text_metrics",
    "bayes_dps.training.metrics": "bayes_dps.tasks.metrics",
    "bayes_dps.training.session": "bayes_dps.runs.session",
    "bayes_dps.training.run_folder": "bayes_dps.runs.run_folder",
    "bayes_dps.training.fingerprint": "bayes_dps.runs.fingerprint",
    "bayes_dps.training.seeds": "bayes_dps.runs.seeds",
    "bayes_dps.training.sweep": "bayes_dps.runs.sweep",
    "bayes_dps.training.provenance": "bayes_dps.runs.provenance",
    "bayes_dps.training.metrics_log": "bayes_dps.runs.metrics_log",
    "bayes_dps.training.runtime": "bayes_dps.training.devices",
    "bayes_dps.inference.bads_sampler": "bayes_dps.inference.bads.sampler",
    "bayes_dps.inference.gibbs_weights": "bayes_dps.inference.sgmcmc.gibbs",
    "bayes_dps.inference.sgld": "bayes_dps.inference.sgmcmc.sgld",
    "bayes_dps.inference.psgld": "bayes_dps.inference.sgmcmc.psgld",
    "bayes_dps.inference.sghmc": "bayes_dps.inference.sgmcmc.sghmc",
    "bayes_dps.inference.sgmcmc_kernel": "bayes_dps.inference.sgmcmc.pyro_kernel",
    "bayes_dps.config.checks": "bayes_dps.checks",
}

#: (old package, name) → the module that holds the name now
MOVED_NAMES = {
    ("bayes_dps.training", "evaluate"): "bayes_dps.tasks.metrics",
    ("bayes_dps.training", "epochs_to_target"): "bayes_dps.runs.summary",
    ("bayes_dps.training", "mean_std"): "bayes_dps.runs.summary",
    ("bayes_dps.training", "frozen_running_stats"): "bayes_dps.models.batchnorm",
    ("bayes_dps.training", "OnlineSelectionEpoch"): "bayes_dps.methods.online.loop",
    ("bayes_dps.training", "run_online_experiment"): "bayes_dps.methods.online.experiment",
    ("bayes_dps.training", "train_online_run"): "bayes_dps.methods.online.experiment",
}


def moved_attribute(package: str, name: str):
    """``package.name`` of 0.2 from its new module (a package's ``__getattr__`` calls this)."""
    new = MOVED_NAMES.get((package, name))
    if new is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    warnings.warn(
        f"{package}.{name} moved to {new}.{name} in bayes-dps 0.3; the old path goes in 0.4",
        DeprecationWarning,
        stacklevel=3,
    )
    return getattr(importlib.import_module(new), name)


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path and loads it as the module at its new path."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} moved to {new} in bayes-dps 0.3; the old path goes in 0.4",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(new)

    def exec_module(self, module):
        """The module at the new path is already executed."""


def install() -> None:
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.insert(0, _Alias())
