"""Experiment configuration: YAML files, defaults, ``--set key=value`` overrides, validation.

A config is a plain nested ``dict``. :func:`load_config` merges, in order, the command's
defaults, the YAML file and the overrides, then checks every key and value, so that a typo
(``--set epoch=3``) fails before any training starts, with the closest valid key named.
"""

from __future__ import annotations

import copy
import difflib
import re
from pathlib import Path
from typing import Any

import yaml

from bayes_dps.errors import ConfigError

DATASET_DEFAULTS: dict[str, Any] = {
    "name": "digits",
    "path": None,
    "download": False,
    "noise": 0.0,
    "imbalance": 1.0,
    "imbalance_profile": "exp",
    "domain": None,
    "meta_per_class": 0,
    "meta_fraction": 0.0,
    "test_fraction": 0.25,
    "as_images": False,
    "num_classes": None,
    "image_size": 224,
    "seed": 0,
}

COMMON_DEFAULTS: dict[str, Any] = {
    "name": None,
    "dataset": DATASET_DEFAULTS,
    "model": "auto",
    "model_options": {},
    "methods": ["uniform"],
    "seeds": [0],
    "epochs": 100,
    "targets": [],
    "optimizer": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.01, "momentum": 0.9},
    "device": "auto",
    "num_workers": 0,
    "eval_batch_size": 1024,
    "progress": True,
    "checkpoint": True,
}

ONLINE_DEFAULTS: dict[str, Any] = {
    **COMMON_DEFAULTS,
    "n_B": 320,
    "n_b": 32,
    "max_steps_per_epoch": None,  # smoke tests only: cut epochs short
    # Deng et al. Eq. 16 and Algorithm 1
    "bayesian": {
        "alpha": 0.3,
        "n_e": 500,
        "tau0": 1.0,
        "num_samples": 100,
        "momentum": 0.95,
        "adaptive_alpha": False,
    },
    # f̃ of Eq. 10 (bayesian, rho_loss_zs): openclip | holdout | cached
    "zero_shot": {
        "name": "openclip",
        "arch": "RN50",
        "pretrained": "openai",
        "checkpoint": None,
        "temperature": 0.01,
        "classnames": None,
        "cache": True,
        "cache_path": None,
    },
    # RHO-LOSS's irreducible-loss model, trained on the meta / holdout split
    "holdout": {
        "model": "auto",
        "model_options": None,
        "epochs": 50,
        "batch_size": 32,
        "lr": 1e-3,
        "weight_decay": 0.01,
        "seed": 0,
        "cache": True,
    },
    # SVP's proxy model, trained on D_t
    "svp": {
        "model": "mlp",
        "model_options": {"hidden": [64]},
        "epochs": 5,
        "batch_size": 64,
        "lr": 1e-3,
        "weight_decay": 0.01,
        "seed": 0,
    },
    "cache_dir": None,
}

BADS_DEFAULTS: dict[str, Any] = {
    **{k: v for k, v in COMMON_DEFAULTS.items() if k != "epochs"},
    "methods": ["mixing", "bads"],
    "steps": 2000,
    "eval_every": 100,
    "batch_size": 64,
    "meta_batch_size": 32,
    "metric": "acc",
    # Xu et al. 2024 (DESIGN §2); kernel: sgld | psgld | sghmc | gibbs
    "bads": {
        "kernel": "sgld",
        "prior": {"name": "truncated_normal", "beta": 0.5, "sigma": 1.0},
        "lam": 1e-4,
        "rho_t": None,
        "rho_m": None,
        "rho_w": 1.0,
        "rho_phi": 1.0,
        "eta_theta": 1e-4,
        "eta_w": 0.05,
        "eta_phi": 1e-5,
        "temperature": 1.0,
        "s_avg": 500,
        "thin": 20,
        "trace_max_instances": 100_000,
        "select_fraction": 0.5,
        "groups": "auto",
        "weight_net_hidden": 64,
        "weight_net_warmup": 0,
    },
    # contrastive data selection (training/contrastive.py); finetune_lr null = optimizer.lr
    "contrastive": {"base_steps": 1000, "finetune_steps": 200, "finetune_lr": None},
    # one-step look-ahead meta-gradient weights (training/blo.py)
    "blo": {"inner_lr": 0.1},
}

#: sub-mappings whose keys are free-form (passed through to a constructor)
FREE_FORM = {
    "model_options",
    "dataset.domain",
    "holdout.model_options",
    "svp.model_options",
    "bads.prior",
}

_KEY = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, but ``1e-3`` is a float (YAML 1.2), not the string "1e-3"."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def yaml_load(text: str):
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects


def parse_set(item: str) -> tuple[str, Any]:
    """``"a.b=value"`` → ``("a.b", <value parsed as YAML>)``; malformed input raises."""
    if "=" not in item:
        raise ConfigError(f"--set expects key=value, got {item!r} (example: --set epochs=20)")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not _KEY.match(key):
        raise ConfigError(
            f"--set key {key!r} is not a dotted name (example: --set dataset.noise=0.2)"
        )
    try:
        value = yaml_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"--set {key}: cannot parse value {raw!r} as YAML ({err})") from err
    return key, value


def _suggest(key: str, options: list[str]) -> str:
    close = difflib.get_close_matches(key, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f"; valid keys: {', '.join(options)}"


def set_dotted(cfg: dict[str, Any], key: str, value: Any, schema: dict[str, Any]) -> None:
    """Set ``cfg[a][b] = value`` for ``key = "a.b"``, checking each part against ``schema``."""
    parts = key.split(".")
    node, spec, free = cfg, schema, False
    for i, part in enumerate(parts):
        if not free:
            if not isinstance(spec, dict) or part not in spec:
                options = list(spec) if isinstance(spec, dict) else []
                dotted = ".".join(parts[: i + 1])
                raise ConfigError(f"unknown config key {dotted!r}{_suggest(part, options)}")
            spec = spec[part]
            free = ".".join(parts[: i + 1]) in FREE_FORM
        if i == len(parts) - 1:
            node[part] = value
        else:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]


def _merge(cfg: dict[str, Any], data: dict[str, Any], schema: dict[str, Any], prefix="") -> None:
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and key not in FREE_FORM and isinstance(schema.get(k), dict):
            _merge(cfg, v, schema, prefix=f"{key}.")
        else:
            set_dotted(cfg, key, v, schema)


def load_config(
    path: str | Path | None,
    overrides: list[str] | tuple[str, ...] = (),
    defaults: dict[str, Any] = ONLINE_DEFAULTS,
) -> dict[str, Any]:
    """Defaults ← YAML file ← ``--set`` overrides, then :func:`validate_common`."""
    cfg = copy.deepcopy(defaults)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            data = yaml_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {err}") from err
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must hold a mapping, got {type(data).__name__}")
        _merge(cfg, data, defaults)
        if cfg.get("name") is None:
            cfg["name"] = path.stem
    for item in overrides:
        key, value = parse_set(item)
        set_dotted(cfg, key, value, defaults)
    validate_common(cfg)
    return cfg


def _number(cfg: dict[str, Any], key: str, *, low=None, high=None, integer=False, low_open=False):
    node: Any = cfg
    for part in key.split("."):
        node = node[part]
    kind = int if integer else (int, float)
    if isinstance(node, bool) or not isinstance(node, kind):
        want = "an integer" if integer else "a number"
        raise ConfigError(f"{key} must be {want}, got {node!r}")
    if low is not None and (node <= low if low_open else node < low):
        raise ConfigError(f"{key} must be {'>' if low_open else '>='} {low}, got {node}")
    if high is not None and node > high:
        raise ConfigError(f"{key} must be <= {high}, got {node}")
    return node


def validate_common(cfg: dict[str, Any]) -> None:
    """Type and range checks shared by every command (each command adds its own)."""
    seeds = cfg["seeds"]
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        cfg["seeds"] = seeds = list(range(seeds))
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        raise ConfigError(f"seeds must be a non-empty list of integers (or a count), got {seeds!r}")
    methods = cfg["methods"]
    if isinstance(methods, str):
        cfg["methods"] = methods = [methods]
    if not isinstance(methods, list) or not methods or not all(isinstance(m, str) for m in methods):
        raise ConfigError(f"methods must be a non-empty list of names, got {methods!r}")
    targets = cfg["targets"]
    if not isinstance(targets, list) or not all(
        isinstance(t, int | float) and not isinstance(t, bool) and 0 < t <= 1 for t in targets
    ):
        raise ConfigError(f"targets must be a list of accuracies in (0, 1], got {targets!r}")
    if "epochs" in cfg:
        _number(cfg, "epochs", low=1, integer=True)
    _number(cfg, "num_workers", low=0, integer=True)
    _number(cfg, "eval_batch_size", low=1, integer=True)
    _number(cfg, "optimizer.lr", low=0, low_open=True)
    _number(cfg, "optimizer.weight_decay", low=0)
    _number(cfg, "dataset.noise", low=0, high=1)
    _number(cfg, "dataset.imbalance", low=1)
    _number(cfg, "dataset.meta_per_class", low=0, integer=True)
    _number(cfg, "dataset.meta_fraction", low=0, high=0.99)
    _number(cfg, "dataset.seed", low=0, integer=True)
    if "bayesian" in cfg:
        _number(cfg, "bayesian.alpha", low=0, high=1)
        _number(cfg, "bayesian.n_e", low=0, low_open=True)
        _number(cfg, "bayesian.tau0", low=0, low_open=True)
        _number(cfg, "bayesian.num_samples", low=1, integer=True)
        _number(cfg, "zero_shot.temperature", low=0, low_open=True)
        _number(cfg, "holdout.epochs", low=1, integer=True)
        _number(cfg, "svp.epochs", low=1, integer=True)
    if "bads" in cfg:
        _number(cfg, "steps", low=1, integer=True)
        _number(cfg, "eval_every", low=1, integer=True)
        _number(cfg, "batch_size", low=1, integer=True)
        _number(cfg, "meta_batch_size", low=1, integer=True)
        _number(cfg, "bads.eta_theta", low=0, low_open=True)
        _number(cfg, "bads.eta_w", low=0, low_open=True)
        _number(cfg, "bads.eta_phi", low=0, low_open=True)
        _number(cfg, "bads.lam", low=0)
        _number(cfg, "bads.rho_w", low=0, low_open=True)
        _number(cfg, "bads.rho_phi", low=0, low_open=True)
        _number(cfg, "bads.s_avg", low=1, integer=True)
        _number(cfg, "bads.thin", low=1, integer=True)
        _number(cfg, "bads.select_fraction", low=0, high=1, low_open=True)
        _number(cfg, "bads.weight_net_warmup", low=0, integer=True)
        _number(cfg, "contrastive.base_steps", low=1, integer=True)
        _number(cfg, "contrastive.finetune_steps", low=1, integer=True)
        if cfg["contrastive"]["finetune_lr"] is not None:
            _number(cfg, "contrastive.finetune_lr", low=0, low_open=True)
        _number(cfg, "blo.inner_lr", low=0, low_open=True)
        if cfg["metric"] not in ("acc", "balanced_acc"):
            raise ConfigError(f"metric must be acc or balanced_acc, got {cfg['metric']!r}")
    if cfg.get("max_steps_per_epoch") is not None:
        _number(cfg, "max_steps_per_epoch", low=1, integer=True)
    if "n_B" in cfg:
        n_big = _number(cfg, "n_B", low=1, integer=True)
        n_small = _number(cfg, "n_b", low=1, integer=True)
        if n_small > n_big:
            raise ConfigError(
                f"n_b={n_small} exceeds n_B={n_big}: the selected batch is drawn from the big "
                "batch, so n_b must be <= n_B (the papers use n_b/n_B = 0.1)"
            )
