"""Experiment configuration: one schema (``keys``) of every key's type, range, default and
meaning; loading (YAML file ← ``--set`` overrides) and validation of whole configs before
anything is allocated; the docs' config reference (docs/config.md) generated from the schema.

The config layer sits just below the CLI: it names the registries of the layers beneath it
(datasets, models, rules, kernels, priors) to check choices against them.
"""

from bayes_dps.config.loading import (
    BADS_DEFAULTS,
    COMMANDS,
    ONLINE_DEFAULTS,
    check_config,
    load_config,
    parse_set,
    read_config_file,
    sweep_points,
    yaml_load,
)
from bayes_dps.config.schema import Key, defaults, set_dotted, validate, walk

__all__ = [
    "BADS_DEFAULTS",
    "COMMANDS",
    "ONLINE_DEFAULTS",
    "Key",
    "check_config",
    "defaults",
    "load_config",
    "parse_set",
    "read_config_file",
    "set_dotted",
    "sweep_points",
    "validate",
    "walk",
    "yaml_load",
]
