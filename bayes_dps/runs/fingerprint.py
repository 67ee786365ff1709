"""Config fingerprints: which runs may be mixed in one results folder.

Two configs that differ only in keys that cannot change a (method, seed) run's numbers — how
it is displayed or logged, which methods and seeds are listed, how many loader workers read
the data — have the same fingerprint, so a finished (method, seed) record can be reused by a
run that lists other methods or seeds (``--resume --extend``), while a changed learning rate or
noise rate is refused with the keys that differ named. What the config does not say but
changes the numbers in their last bits — the CPU threads (the order of a matrix product's
sums), the number of processes, the kind of device — is fingerprinted too, as ``runtime``: a
resume on another machine setting is refused rather than mixing runs.

A plain ``--resume`` continues the run as it was started: :func:`resume_diff` compares every
key but :data:`PRESENTATION_KEYS`, so a resume that leaves out the ``--set methods=…`` or
``seeds=…`` it was started with is refused rather than silently running the whole config.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: top-level keys that change nothing a run computes or reports: how it is shown and logged,
#: whether it checkpoints, where caches live, how data are read and evaluated in batches
PRESENTATION_KEYS = (
    "name",
    "progress",
    "checkpoint",
    "logging",
    "cache_dir",
    "num_workers",
    "eval_batch_size",
)

#: top-level keys that choose which (method, seed) runs ``results.json`` lists, not what any
#: one of them computes: outside the fingerprint, compared by a plain ``--resume``
RUN_LIST_KEYS = ("methods", "seeds")

#: top-level keys whose resolved value is fingerprinted as ``runtime`` instead (``threads:
#: auto`` and ``threads: 1`` are the same run on a machine where auto means 1)
RUNTIME_KEYS = ("threads",)

#: top-level keys that do not change a single (method, seed) run's results
NOT_FINGERPRINTED = (*PRESENTATION_KEYS, *RUN_LIST_KEYS, *RUNTIME_KEYS)


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


def resume_diff(
    old: dict[str, Any],
    new: dict[str, Any],
    old_runtime: dict[str, Any] | None = None,
    new_runtime: dict[str, Any] | None = None,
    *,
    extend: bool = False,
) -> list[str]:
    """What a ``--resume`` of the run ``old`` with the config ``new`` would change: the
    fingerprinted keys (:func:`config_diff`) and, unless ``extend``, the
    :data:`RUN_LIST_KEYS` (``["methods: ['uniform'] → [...]", ...]``)."""
    diff = config_diff(old, new, old_runtime, new_runtime)
    if not extend:
        diff += [
            f"{k}: {old.get(k, '(unset)')!r} → {new.get(k, '(unset)')!r}"
            for k in RUN_LIST_KEYS
            if old.get(k) != new.get(k)
        ]
    return diff
