"""The per-(method, seed) loop every experiment shares: reuse finished runs on ``--resume``,
train the others from their checkpoint, write each RUN record atomically as soon as it ends
(``OUT/runs/<method>/seed<k>.json``, with the config fingerprint and a checksum of its
content) and drop its checkpoints.

A stored record is reused only when it verifies: readable JSON, an object, its checksum
matching its content and its seed the one asked for. One that does not (damaged, edited by
hand, or written before records carried checksums) is recomputed, with a line saying why —
never trusted."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bayes_dps import distributed as dist
from bayes_dps.errors import ConfigError
from bayes_dps.io import atomic_write_json
from bayes_dps.training.checkpoint import remove_checkpoint


def record_path(out: Path, method: str, seed: int, suffix: str = ".json") -> Path:
    return out / "runs" / method / f"seed{seed}{suffix}"


def _without_checksum(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "checksum"}


def record_checksum(record: dict[str, Any]) -> str:
    """SHA-256 of a record's canonical JSON, without its own ``checksum`` field."""
    text = json.dumps(
        _without_checksum(record), sort_keys=True, separators=(",", ":"), allow_nan=True
    )
    return hashlib.sha256(text.encode()).hexdigest()


def with_checksum(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with its checksum, taken of what is read back (through JSON first: tuples
    become lists, numpy and torch values plain numbers)."""
    plain = json.loads(json.dumps(_without_checksum(record), default=lambda o: o.tolist()))
    return {**plain, "checksum": record_checksum(plain)}


def read_record(path: Path) -> dict[str, Any]:
    """The record at ``path``; :class:`ConfigError` saying why when it does not verify."""
    try:
        record = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError, OSError) as err:
        raise ConfigError(f"{path} is unreadable ({err})") from err
    if not isinstance(record, dict):
        raise ConfigError(f"{path} does not hold a run record")
    if record.get("checksum") != record_checksum(record):
        raise ConfigError(
            f"{path} does not match its checksum (changed after it was written, or written "
            "before records carried one)"
        )
    return record


def _verified(path: Path, seed: int) -> tuple[dict[str, Any] | None, str]:
    """``(record, "")``, ``(None, "")`` when there is none, or ``(None, why)`` for a record
    that cannot be trusted."""
    if not path.is_file():
        return None, ""
    try:
        record = read_record(path)
    except ConfigError as err:
        return None, str(err)
    if record.get("seed") != seed:
        return None, f"{path} holds seed {record.get('seed')!r}, not {seed}"
    return record, ""


def run_seeds(
    out: Path,
    method: str,
    seeds: Iterable[int],
    train: Callable[[int, Path | None], dict[str, Any]],
    *,
    fingerprint: str,
    checkpoint: bool,
    resume: bool,
    log: Callable[[str], None],
    describe: Callable[[dict[str, Any]], str],
    reuse: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """RUN records of ``method`` for every seed.

    ``train(seed, checkpoint_path)`` trains one run (resuming from ``checkpoint_path`` when
    ``resume``) and returns its record; ``reuse(seed)`` is called for a run finished earlier
    (to reload what it saved beside its record); ``describe(record)`` is the log line. A
    reused record written under another config fingerprint is refused."""
    runs = []
    for seed in seeds:
        path = record_path(out, method, seed)
        # rank 0 looks at the files and tells every process (they may not share a disk)
        record, why = dist.on_main(_verified, path, seed) if resume else (None, "")
        if why:
            log(f"{method} seed {seed}: {why}; recomputing it")
        if record is not None:
            if record.get("config_fingerprint") != fingerprint:
                raise ConfigError(
                    f"{path} was written by a run with another config (fingerprint "
                    f"{record.get('config_fingerprint')}, this run {fingerprint}); delete it "
                    "to recompute that seed"
                )
            runs.append(_without_checksum(record))
            if reuse is not None:
                reuse(seed)
            log(f"{method} seed {seed}: finished earlier, reusing {path}")
            continue
        ckpt = out / "checkpoints" / f"{method}_seed{seed}.pt" if checkpoint else None
        record = with_checksum({**train(seed, ckpt), "config_fingerprint": fingerprint})
        if dist.is_main():
            atomic_write_json(path, record)
            if ckpt is not None:
                remove_checkpoint(ckpt)
        record = _without_checksum(record)  # results.json holds the records as they were
        runs.append(record)
        log(f"{method} seed {seed}: {describe(record)}")
    return runs
