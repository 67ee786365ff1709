"""The per-(method, seed) loop every experiment shares: reuse finished runs on ``--resume``,
train the others from their checkpoint, write each RUN record atomically as soon as it ends
(``OUT/runs/<method>/seed<k>.json``) and drop its checkpoint."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bayes_dps.io import atomic_write_json


def run_seeds(
    out: Path,
    method: str,
    seeds: Iterable[int],
    train: Callable[[int, Path | None], dict[str, Any]],
    *,
    checkpoint: bool,
    resume: bool,
    log: Callable[[str], None],
    describe: Callable[[dict[str, Any]], str],
    reuse: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """RUN records of ``method`` for every seed.

    ``train(seed, checkpoint_path)`` trains one run (resuming from ``checkpoint_path`` when
    ``resume``) and returns its record; ``reuse(seed)`` is called for a run finished earlier
    (to reload what it saved beside its record); ``describe(record)`` is the log line."""
    runs = []
    for seed in seeds:
        record_path = out / "runs" / method / f"seed{seed}.json"
        if resume and record_path.is_file():
            runs.append(json.loads(record_path.read_text()))
            if reuse is not None:
                reuse(seed)
            log(f"{method} seed {seed}: finished earlier, reusing {record_path}")
            continue
        ckpt = out / "checkpoints" / f"{method}_seed{seed}.pt" if checkpoint else None
        record = train(seed, ckpt)
        atomic_write_json(record_path, record)
        if ckpt is not None:
            ckpt.unlink(missing_ok=True)
        runs.append(record)
        log(f"{method} seed {seed}: {describe(record)}")
    return runs
