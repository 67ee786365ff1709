"""The benchmark scripts run (tiny settings); their numbers come from full runs, not tests."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from helpers import ROOT


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_selection_cost_runs(tmp_path):
    out = tmp_path / "cost.json"
    load("selection_cost").main(
        ["--repeats", "2", "--warmup", "0", "--n-big", "16", "--n-small", "4", "--model",
         "resnet32", "--device", "cpu", "--num-samples", "8", "--block", "2",
         "--variance-rank", "8", "--out", str(out)]
    )  # fmt: skip
    result = json.loads(out.read_text())
    for key in ("bayesian_over_rho_loss", "bayesian_mc_over_rho_loss", "bayesian_over_uniform",
                "bayesian_amortised_over_rho_loss", "scoring_over_forward"):  # fmt: skip
        assert result[key] > 0
    split = result["split_ms_per_step"]["bayesian"]
    assert set(split) == {"scoring_forward", "selection", "training_step", "posterior_update"}
    assert set(result["split_ms_per_step"]["uniform"]) == {"selection", "training_step",
                                                           "posterior_update"}  # fmt: skip


@pytest.mark.parametrize("axis", ["n_B", "d", "k"])
def test_selection_cost_scaling_mode(tmp_path, monkeypatch, axis):
    """--scaling AXIS: a row per value of the axis (the others at their defaults), each
    method's ms per step and µs per point, and the Bayesian scoring maths split."""
    module = load("selection_cost")
    monkeypatch.setitem(module.AXES, axis, {"n_B": (16, 32), "d": (8, 16), "k": (3, 12)}[axis])
    out = tmp_path / "scaling.json"
    module.main(["--repeats", "1", "--warmup", "0", "--scaling", axis, "--num-samples", "4",
                 "--n-big", "16", "--n-small", "4", "--width", "16", "--block", "2",
                 "--variance-rank", "4", "--methods", "uniform,rho_loss,bayesian,"
                 "bayesian_amortised", "--out", str(out)])  # fmt: skip
    result = json.loads(out.read_text())
    assert result["axis"] == axis
    rows = result["scaling"]
    assert set(rows) == {str(v) for v in module.AXES[axis]}
    for row in rows.values():
        assert set(row["us_per_point"]) == {
            "uniform", "rho_loss", "bayesian", "bayesian_amortised", "forward", "scoring",
            "factorisation", "scoring_amortised", "factorisation_amortised",
        }  # fmt: skip
        assert all(v > 0 for v in row["ms_per_step"].values())


def test_selection_cost_one_versus_two_processes(tmp_path):
    """--world-size spawns processes, so the script runs as a program here."""
    out = tmp_path / "ddp.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "selection_cost.py"), "--repeats", "2",
           "--warmup", "1", "--n-big", "32", "--n-small", "8", "--model", "mlp",
           "--num-samples", "4", "--precision", "bf16-mixed", "--world-size", "2",
           "--out", str(out)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    result = json.loads(out.read_text())
    assert result["setup"]["precision"] == "bf16-mixed"
    for world in (1, 2):
        assert result["throughput"][f"steps_per_second_{world}_process"]["bayesian"] > 0


def _bads_cost(tmp_path, *args: str) -> dict:
    """``bads_cost.py`` with one repeat, no warm-up, one thread and tiny batches (``args``
    override), its ``results.json``."""
    out = tmp_path / "bads_cost.json"
    load("bads_cost").main(
        ["--repeats", "1", "--warmup", "0", "--batch", "4", "--meta-batch", "2",
         "--threads", "1", *args, "--out", str(out)]
    )  # fmt: skip
    return json.loads(out.read_text())


def test_bads_cost_times_every_method(tmp_path):
    result = _bads_cost(tmp_path, "--model", "mlp", "--memory-steps", "0")
    methods = ("weighted", "bads", "bads_fixed_w", "bads_chain", "bads_chain_thinned",
               "bads_weightnet", "blo")  # fmt: skip
    for m in methods:
        assert result[f"{m}_over_plain"] > 0
    assert set(result["seconds_per_step"]) == {"plain", *methods}
    # the data baselines' cost before training; askllm_o needs a language model
    assert set(result["scoring"]) == {"contrastive", "classact", "classact_fit"}
    assert all(v > 0 for v in result["scoring"].values())


def test_bads_cost_measures_memory_of_the_chosen_methods(tmp_path):
    result = _bads_cost(
        tmp_path, "--model", "mlp", "--methods", "bads_chain,bads", "--memory-steps", "1"
    )
    assert set(result["peak_bytes"]) == {"plain", "bads", "bads_chain"}  # plain: the reference
    assert result["bads_memory_over_plain"] > 0 and result["bads_chain_memory_over_plain"] > 0
    assert "blo_over_plain" not in result


def test_bads_cost_refuses_an_unknown_method(tmp_path):
    with pytest.raises(SystemExit):
        load("bads_cost").main(["--methods", "bads,nuts", "--out", str(tmp_path / "x.json")])


def test_bads_cost_on_a_tiny_causal_lm(tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("peft")
    result = _bads_cost(tmp_path, "--model", "tiny-causal-lm", "--seq-len", "16", "--batch", "2",
                        "--memory-steps", "0")  # fmt: skip
    assert result["settings"]["model"] == "tiny-causal-lm"
    assert result["bads_over_plain"] > 0 and result["blo_over_plain"] > 0
    assert result["bads_weightnet_over_plain"] > 0 and result["weighted_over_plain"] > 0
    assert set(result["scoring"]) == {"contrastive", "classact", "classact_fit", "askllm_o",
                                      "bads_weightnet"}  # fmt: skip


def test_integration_cost_runs(tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("lightning")
    out = tmp_path / "integrations.json"
    load("integration_cost").main(
        ["--repeats", "1", "--steps", "3", "--warmup", "1", "--out", str(out)]
    )
    result = json.loads(out.read_text())
    for kind, method in (("online", "bayesian"), ("bads", "bads")):
        for t in ("hf", "lightning"):
            assert result[kind][f"{t}_ratio_over_own_ratio"] > 0
            assert result[kind][f"{t}_{method}_over_own_{method}"] > 0
        assert len(result[kind]["median_ms"]) == 7


def test_run_all_is_the_gpu_check_and_runs_on_the_cpu(tmp_path):
    """``benchmarks/run_all.py`` (the documented GPU command) with ``--device cpu --quick``:
    every benchmark runs, each is stored as a summary in the results folder given, and the
    scaling figures are drawn from those summaries; quick numbers cannot be stored into
    docs/results."""
    module = load("run_all")
    results, figures = tmp_path / "results", tmp_path / "figures"
    written = module.main(["--device", "cpu", "--quick", "--store", "--out", str(tmp_path / "o"),
                           "--results", str(results), "--figures", str(figures)])  # fmt: skip
    assert set(written) == set(module.BENCHMARKS)
    for name in module.BENCHMARKS:
        summary = json.loads((results / f"{name}.json").read_text())
        assert summary["name"] == name and len(summary["rows"]) > 2
        assert summary["command"].startswith("python benchmarks/")
    sel = json.loads((results / "cost_selection_mlp.json").read_text())["settings"]
    assert sel["device"] == "cpu"
    for fig in ("scaling_selection", "scaling_models", "scaling_bads"):
        assert (figures / f"{fig}.png").stat().st_size > 10_000
    with pytest.raises(SystemExit):
        module.parse(["--quick", "--store"])


def test_scaling_figures_draw_from_the_stored_summaries(tmp_path):
    """``make docs-figures``: every figure of the performance page is drawn from what
    docs/results holds (a summary that lost a row the figure reads fails here)."""
    spec = importlib.util.spec_from_file_location("figs", ROOT / "tools" / "scaling_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.main(["--out", str(tmp_path)])
    assert sorted(p.name for p in written) == sorted(f"{n}.png" for n in module.FIGURES)
    for name in module.FIGURES:
        assert f"figures/{name}.png" in (ROOT / "docs" / "performance.md").read_text()
