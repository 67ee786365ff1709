"""A config schema: a tree of sections (``dict``) whose leaves are :class:`Key` — a check, a
default and one line of documentation. The same tree gives the defaults, validates a config,
tells ``--set`` which dotted names exist, and prints the reference table of docs/config.md.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from typing import Any

from bayes_dps.checks import Check, Mapping, Nullable, Struct
from bayes_dps.errors import ConfigError


@dataclass(frozen=True)
class Key:
    """One config key: ``check`` validates (and normalises) its value, ``default`` is used when
    the config does not set it, ``doc`` says what it means (shown in the reference table)."""

    check: Check
    default: Any
    doc: str
    #: shown instead of the default in the reference table (e.g. "file name")
    shown_default: str | None = None

    @property
    def open_mapping(self) -> bool:
        """True when sub-keys (``--set key.sub=...``) are allowed below this key."""
        inner = self.check.inner if isinstance(self.check, Nullable) else self.check
        return isinstance(inner, Mapping | Struct)


Tree = dict[str, Any]  # section name -> Tree | Key


def keys_from(settings: type, exclude: Iterable[str] = ()) -> Tree:
    """The keys of a component's typed settings (a :class:`~bayes_dps.checks.Settings`
    dataclass): its defaults, checks and documentation, in one place for the library and
    the config."""
    skip = set(exclude)
    return {
        f.name: Key(f.metadata["check"], f.default, f.metadata["doc"], f.metadata["shown"])
        for f in fields(settings)
        if f.name not in skip
    }


def defaults(tree: Tree) -> dict[str, Any]:
    """The config that sets nothing: every key at its default (deep copies)."""
    return {
        name: defaults(node) if isinstance(node, dict) else copy.deepcopy(node.default)
        for name, node in tree.items()
    }


def walk(tree: Tree, prefix: str = "") -> Iterator[tuple[str, Key]]:
    """``(dotted name, key)`` for every leaf, in schema order."""
    for name, node in tree.items():
        if isinstance(node, dict):
            yield from walk(node, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", node


def _suggest(part: str, options: list[str]) -> str:
    close = difflib.get_close_matches(part, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f"; valid keys: {', '.join(options)}"


def locate(tree: Tree, dotted: str) -> tuple[Key | None, list[str]]:
    """The key a dotted name refers to and the parts below it (inside an open mapping);
    ``(None, [])`` for a whole section. Unknown names raise with the closest valid one."""
    parts = dotted.split(".")
    node: Any = tree
    for i, part in enumerate(parts):
        if isinstance(node, Key):
            if node.open_mapping:
                return node, parts[i:]
            raise ConfigError(
                f"{'.'.join(parts[:i])} is a single value, not a section; "
                f"unknown config key {dotted!r}"
            )
        if part not in node:
            where = ".".join(parts[: i + 1])
            raise ConfigError(f"unknown config key {where!r}{_suggest(part, list(node))}")
        node = node[part]
    return (node, []) if isinstance(node, Key) else (None, [])


def set_dotted(cfg: dict[str, Any], dotted: str, value: Any, tree: Tree) -> None:
    """``cfg[a][b] = value`` for ``dotted = "a.b"``, checking that the name exists in ``tree``
    (values are checked later, all at once, by :func:`validate`)."""
    key, below = locate(tree, dotted)
    if key is None and not isinstance(value, dict):
        raise ConfigError(
            f"{dotted} is a section; set its keys ({dotted}.<key>=...) or give a mapping"
        )
    if key is None:  # a whole section given as a mapping: set its keys one by one
        for k, v in value.items():
            set_dotted(cfg, f"{dotted}.{k}", v, tree)
        return
    parts = dotted.split(".")
    node = cfg
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
    del below  # (sub-keys of an open mapping are checked by its check)


def validate(cfg: dict[str, Any], tree: Tree, prefix: str = "") -> dict[str, Any]:
    """Check every key of ``cfg`` against ``tree``; returns the normalised config. Unknown keys
    and wrong types or ranges raise :class:`ConfigError` naming the key."""
    if not isinstance(cfg, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'the config'} must be a mapping, got {cfg!r}")
    unknown = [k for k in cfg if k not in tree]
    if unknown:
        k = str(unknown[0])
        raise ConfigError(f"unknown config key {prefix + k!r}{_suggest(k, list(tree))}")
    out: dict[str, Any] = {}
    for name, node in tree.items():
        dotted = f"{prefix}{name}"
        if isinstance(node, dict):
            out[name] = validate(cfg.get(name, {}), node, f"{dotted}.")
        else:
            value = cfg[name] if name in cfg else copy.deepcopy(node.default)
            out[name] = node.check.check(dotted, value)
    return out
