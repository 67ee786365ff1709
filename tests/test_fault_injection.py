"""Fault injection: ``kill -9`` a real ``bayes-dps`` process at three random moments, resume
each time with ``--resume``, and get exactly the results of an uninterrupted run.

The kill moments are drawn (seeded) across the whole run — during start-up, training, writing
a checkpoint or a record — so the test exercises atomic writes, the previous-checkpoint
fallback, the lock (released by the kernel when the process dies) and exact resume of every
random generator.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import without_timings

CASES = {
    "online": [
        "online", "--config", "digits_noisy", "--set", "epochs=6", "--set", "seeds=2",
        "--set", "methods=[uniform, bayesian]", "--set", "holdout.epochs=20",
        "--set", "model_options={hidden: [64]}",
    ],
    "bads": [
        "bads", "--config", "digits_denoise", "--set", "steps=300", "--set", "eval_every=50",
        "--set", "seeds=2", "--set", "methods=[bads, mixing]", "--set", "bads.s_avg=100",
        "--set", "bads.thin=10", "--set", "model_options={hidden: [64]}",
    ],
}  # fmt: skip


def command(args: list[str], out: Path, resume: bool = False) -> list[str]:
    argv = [sys.executable, "-m", "bayes_dps.cli", *args, "--out", str(out), "--quiet"]
    return argv + (["--resume"] if resume else [])


def run(args: list[str], out: Path, resume: bool = False) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(command(args, out, resume), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return time.perf_counter() - t0


@pytest.mark.parametrize("case", sorted(CASES))
def test_kill_minus_nine_three_times_then_resume_gives_the_same_results(tmp_path, case):
    args = CASES[case]
    ref = tmp_path / "ref"
    duration = run(args, ref)
    rng = random.Random(f"kill-{case}")
    out = tmp_path / "killed"
    kills = []
    for i in range(3):
        proc = subprocess.Popen(
            command(args, out, resume=i > 0), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        delay = rng.uniform(0.15, 0.95) * duration
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        kills.append((round(delay, 2), proc.returncode))
    run(args, out, resume=True)
    assert any(code == -signal.SIGKILL for _, code in kills), kills

    def load(folder: Path) -> dict:
        return without_timings(json.loads((folder / "results.json").read_text()))

    assert load(out) == load(ref), kills
    for trace in sorted(ref.glob("runs/*/seed*.trace.npy")):
        again = out / trace.relative_to(ref)
        np.testing.assert_array_equal(np.load(again), np.load(trace))
    assert not list(out.glob("checkpoints/*.pt")), "finished runs leave no checkpoints"
