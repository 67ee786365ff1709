"""Hyper-parameter sweeps of online selection (the paper's Fig. 4 ablations): the config run
once per value of one key, each into ``OUT/KEY=VALUE/`` (sharing one holdout model), and
``OUT/sweep.json`` holding everything the sweep figure and ``bayes-dps report`` need — the
key, the values, the targets and each value's results (curves and summaries per method)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bayes_dps.io import atomic_write_json
from bayes_dps.training.run_folder import folder_lock

SWEEP_FIELDS = ("test_acc", "epochs_to_target", "seconds_to_target", "final_acc", "seed")


def run_sweep(
    configs: list[dict[str, Any]],
    key: str,
    values: list[Any],
    out: Path,
    run: Callable[[dict[str, Any], Path], dict[str, Any]],
) -> dict[str, Any]:
    """``run(cfg, folder)`` for each value; writes and returns ``sweep.json``'s content."""
    runs: dict[str, Any] = {}
    with folder_lock(out):
        for value, c in zip(values, configs, strict=True):
            results = run(c, out / f"{key}={value}")
            runs[str(value)] = {
                "folder": f"{key}={value}",
                "methods": {
                    m: {
                        "seeds": [{f: r[f] for f in SWEEP_FIELDS if f in r} for r in res["seeds"]],
                        "summary": res["summary"],
                    }
                    for m, res in results["methods"].items()
                },
            }
        sweep = {"key": key, "values": values, "targets": configs[0]["targets"], "runs": runs}
        atomic_write_json(out / "sweep.json", sweep)
    return sweep
