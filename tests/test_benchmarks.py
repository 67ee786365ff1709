"""The benchmark scripts run (tiny settings); their numbers come from full runs, not tests."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_selection_cost_runs(tmp_path):
    out = tmp_path / "cost.json"
    load("selection_cost").main(
        [
            "--repeats",
            "1",
            "--warmup",
            "0",
            "--n-big",
            "16",
            "--n-small",
            "4",
            "--model",
            "resnet32",
            "--device",
            "cpu",
            "--num-samples",
            "8",
            "--out",
            str(out),
        ]
    )
    result = json.loads(out.read_text())
    for key in ("bayesian_over_rho_loss", "bayesian_over_uniform", "scoring_over_forward"):
        assert result[key] > 0


def test_bads_cost_runs(tmp_path):
    out = tmp_path / "bads_cost.json"
    load("bads_cost").main(
        ["--repeats", "1", "--warmup", "0", "--batch", "4", "--meta-batch", "2",
         "--memory-steps", "1", "--threads", "1", "--out", str(out)]
    )  # fmt: skip
    result = json.loads(out.read_text())
    for key in ("bads_over_plain", "blo_over_plain", "bads_memory_over_plain"):
        assert result[key] > 0
    assert set(result["peak_bytes"]) == {"plain", "bads", "blo"}
