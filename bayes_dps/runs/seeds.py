"""The per-(method, seed) loop every experiment shares: reuse finished runs on ``--resume``,
train the others from their checkpoint, write each RUN record atomically as soon as it ends
(``OUT/runs/<method>/seed<k>.json``, with the config fingerprint) and drop its checkpoints."""

from __future__ import annotations

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


def read_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"{path} is unreadable ({err}); delete it to recompute that seed"
        ) from err
    if not isinstance(record, dict):
        raise ConfigError(f"{path} does not hold a run record; delete it to recompute that seed")
    return record


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
        if resume and dist.on_main(path.is_file):
            record = dist.on_main(read_record, path)
            if record.get("config_fingerprint") != fingerprint:
                raise ConfigError(
                    f"{path} was written by a run with another config (fingerprint "
                    f"{record.get('config_fingerprint')}, this run {fingerprint}); delete it "
                    "to recompute that seed"
                )
            runs.append(record)
            if reuse is not None:
                reuse(seed)
            log(f"{method} seed {seed}: finished earlier, reusing {path}")
            continue
        ckpt = out / "checkpoints" / f"{method}_seed{seed}.pt" if checkpoint else None
        record = {**train(seed, ckpt), "config_fingerprint": fingerprint}
        if dist.is_main():
            atomic_write_json(path, record)
            if ckpt is not None:
                remove_checkpoint(ckpt)
        runs.append(record)
        log(f"{method} seed {seed}: {describe(record)}")
    return runs
