"""Config fingerprints: which runs may be mixed in one results folder.

Two configs that differ only in keys that cannot change a (method, seed) run's numbers — how
it is displayed or logged, which methods and seeds are listed, how many loader workers read
the data — have the same fingerprint, so ``--resume`` may add seeds or methods to a run, while
a changed learning rate or noise rate is refused with the keys that differ named. What the
config does not say but changes the numbers in their last bits — the CPU threads (the order of
a matrix product's sums), the number of processes, the kind of device — is fingerprinted too,
as ``runtime``: a resume on another machine setting is refused rather than mixing runs.
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
    "threads",  # the resolved thread count is fingerprinted instead (``runtime``)
)


def fingerprinted(cfg: dict[str, Any], runtime: dict[str, Any] | None = None) -> dict[str, Any]:
    """The part of ``cfg`` that determines a run's results, with the ``runtime`` settings
    (threads, processes, device type) under ``runtime``."""
    out = {k: v for k, v in cfg.items() if k not in NOT_FINGERPRINTED}
    if runtime:
        out["runtime"] = runtime
    return out


def config_fingerprint(cfg: dict[str, Any], runtime: dict[str, Any] | None = None) -> str:
    """SHA-256 (16 hex digits) of the canonical JSON of :func:`fingerprinted`."""
    text = json.dumps(
        fingerprinted(cfg, runtime), sort_keys=True, default=str, separators=(",", ":")
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict) or not d:
        return {prefix.rstrip("."): d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}{k}."))
    return out


def config_diff(
    old: dict[str, Any],
    new: dict[str, Any],
    old_runtime: dict[str, Any] | None = None,
    new_runtime: dict[str, Any] | None = None,
) -> list[str]:
    """``["key: old → new", ...]`` over the fingerprinted keys that differ."""
    a = _flatten(fingerprinted(old, old_runtime))
    b = _flatten(fingerprinted(new, new_runtime))
    return [
        f"{k}: {a.get(k, '(unset)')!r} → {b.get(k, '(unset)')!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]
