"""Config fingerprints: which runs may be mixed in one results folder.

Two configs that differ only in keys that cannot change a (method, seed) run's numbers — how
it is displayed or logged, which methods and seeds are listed, how many threads or loader
workers compute it — have the same fingerprint, so ``--resume`` may add seeds or methods to a
run, while a changed learning rate or noise rate is refused with the keys that differ named.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: top-level keys that do not change a single (method, seed) run's results
NOT_FINGERPRINTED = (
    "name",
    "methods",
    "seeds",
    "progress",
    "checkpoint",
    "logging",
    "cache_dir",
    "num_workers",
    "eval_batch_size",
    "threads",
)


def fingerprinted(cfg: dict[str, Any]) -> dict[str, Any]:
    """The part of ``cfg`` that determines a run's results."""
    return {k: v for k, v in cfg.items() if k not in NOT_FINGERPRINTED}


def config_fingerprint(cfg: dict[str, Any]) -> str:
    """SHA-256 (16 hex digits) of the canonical JSON of :func:`fingerprinted`."""
    text = json.dumps(fingerprinted(cfg), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict) or not d:
        return {prefix.rstrip("."): d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}{k}."))
    return out


def config_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``["key: old → new", ...]`` over the fingerprinted keys that differ."""
    a, b = _flatten(fingerprinted(old)), _flatten(fingerprinted(new))
    return [
        f"{k}: {a.get(k, '(unset)')!r} → {b.get(k, '(unset)')!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]
