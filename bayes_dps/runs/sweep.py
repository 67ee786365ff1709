"""Hyper-parameter sweeps (the papers' ablations: Deng et al. Fig. 4; BADS's γ and impact
constants): a config run once per point of a grid over one or more keys, each into
``OUT/k1=v1,k2=v2/``, and ``OUT/sweep.json`` holding everything the sweep figure and
``bayes-dps report`` need — the keys, the grid, the targets and each point's results (per
method: the per-seed curves and final values, and the summary)."""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from bayes_dps import distributed as dist
from bayes_dps.io import atomic_write_json
from bayes_dps.runs.run_folder import folder_lock

#: the per-seed fields a sweep keeps (online and BADS runs)
SWEEP_FIELDS = (
    "seed",
    "test_acc",
    "epochs_to_target",
    "seconds_to_target",
    "final_acc",
    "eval_steps",
    "test_metric",
    "final_metric",
    "final_group_weights",
)


def grid(sweep: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the swept values, in the order the keys were given."""
    keys = list(sweep)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*sweep.values())]


def label(point: dict[str, Any]) -> str:
    """``"bads.normaliser_weight=0.5,bads.rho_m=100"``: the point's key in ``sweep.json`` and
    its folder's name — confined to the sweep's folder: a value with characters a file name
    should not hold (``/``, spaces, ...) has them replaced and a short hash of the value
    appended, so that different values never share a folder."""
    parts = []
    for k, v in point.items():
        text = str(v)
        safe = re.sub(r"[^A-Za-z0-9._+,-]", "_", text)[:60]
        if safe != text:
            digest = hashlib.sha256(text.encode()).hexdigest()[:8]
            safe = f"{safe.strip('._') or 'value'}-{digest}"
        parts.append(f"{k}={safe}")
    return ",".join(parts)


def run_sweep(
    points: list[tuple[dict[str, Any], dict[str, Any]]],
    out: Path,
    run: Callable[[dict[str, Any], Path], dict[str, Any]],
    *,
    targets: list[float] | None = None,
    metric: str | None = None,
) -> dict[str, Any]:
    """``run(cfg, folder)`` for each ``(point, cfg)``; writes and returns ``sweep.json``
    (``metric``: the BADS test metric its tables name)."""
    runs: dict[str, Any] = {}
    with folder_lock(out) if dist.is_main() else nullcontext():
        for point, cfg in points:
            name = label(point)
            results = run(cfg, out / name)
            runs[name] = {
                "folder": name,
                "values": point,
                "methods": {
                    m: {
                        "seeds": [{f: r[f] for f in SWEEP_FIELDS if f in r} for r in res["seeds"]],
                        "summary": res["summary"],
                    }
                    for m, res in results["methods"].items()
                },
            }
        keys = list(points[0][0]) if points else []
        sweep = {
            "keys": keys,
            "key": keys[0] if len(keys) == 1 else ", ".join(keys),
            "values": {k: list(dict.fromkeys(p[k] for p, _ in points)) for k in keys},
            "targets": targets or [],
            "metric": metric,
            "runs": runs,
        }
        if dist.is_main():
            atomic_write_json(out / "sweep.json", sweep)
    return sweep
