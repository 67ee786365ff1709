"""Helpers shared by test modules (importable: pytest puts tests/ on the path)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

#: the repository
ROOT = Path(__file__).resolve().parents[1]
#: CLI options of a quick run: no progress bars, on the CPU, no checkpoints
FAST = ["--quiet", "--set", "device=cpu", "--set", "checkpoint=false"]

#: what differs between two runs of the same config: wall-clock and where they ran
TIMING_KEYS = ("seconds_per_epoch", "epoch_seconds", "seconds_to_target", "seconds_per_step",
               "step_seconds", "profile", "setup_seconds",
               "end_to_end_seconds_to_target")  # fmt: skip


def without_timings(results: dict[str, Any]) -> dict[str, Any]:
    """``results.json`` without provenance and wall-clock fields (for equality of reruns)."""
    res = copy.deepcopy(results)
    res.pop("provenance", None)
    for method in res.get("methods", {}).values():
        for run in method["seeds"]:
            for k in TIMING_KEYS:
                run.pop(k, None)
        for k in TIMING_KEYS:
            method["summary"].pop(k, None)
    return res
