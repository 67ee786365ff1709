"""The frozen-config regression reference: small runs of the two offline defaults whose
numbers ``tests/test_frozen_results.py`` checks on every change (a refactor must not move
them).

    python tests/reference/make_frozen_results.py     # rewrites frozen_results.json

Run it only when a change of the numbers is intended (a new random-number layout, a fixed
bug), and say so in the commit. It runs the command line of whatever ``bayes_dps`` is on the
path, so the same script recorded the reference of the previous layout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMMON = ["--quiet", "--set", "device=cpu", "--set", "checkpoint=false", "--set", "seeds=[0]"]
RUNS = {
    "online": [
        "online", "--config", "digits_noisy", *COMMON,
        "--set", "methods=[uniform, rho_loss, bayesian]", "--set", "epochs=4",
        "--set", "holdout.epochs=20", "--set", "bayesian.estimator=mc",
    ],
    "bads": [
        "bads", "--config", "digits_denoise", *COMMON,
        "--set", "methods=[bads, mixing, bads_chain]", "--set", "steps=300",
        "--set", "eval_every=100", "--set", "bads.s_avg=100", "--set", "bads.thin=10",
        "--set", "model_options={hidden: [64]}",
    ],
}  # fmt: skip
#: the per-seed numbers kept (no wall-clock)
FIELDS = {
    "online": ("test_acc", "epochs_to_target", "final_acc", "selected_noisy_fraction",
               "selected_redundant_fraction"),
    "bads": ("eval_steps", "test_metric", "final_metric", "group_weights",
             "final_group_weights", "selected"),
}  # fmt: skip


def numbers(results: dict, command: str) -> dict:
    return {
        method: [{f: run[f] for f in FIELDS[command] if f in run} for run in res["seeds"]]
        for method, res in results["methods"].items()
    }


def run(command: str, out: Path, args: list[str] | None = None) -> dict:
    """The numbers of one frozen run (``args``: its command line, e.g. without options an
    older version lacks)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "bayes_dps.cli", *(args or RUNS[command]), "--out", str(out)]
    subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    return numbers(json.loads((out / "results.json").read_text()), command)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        frozen = {c: run(c, Path(tmp) / c) for c in RUNS}
    (HERE / "frozen_results.json").write_text(json.dumps(frozen, indent=1) + "\n")
    print(f"wrote {HERE / 'frozen_results.json'}")


if __name__ == "__main__":
    main()
