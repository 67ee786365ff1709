"""The bayes-dps command end to end: results contract, npz data, resume, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import FAST, ROOT, without_timings

from bayes_dps.cli import main
from bayes_dps.methods.online import loop as online
from tests.conftest import write_npz

DIGITS = str(ROOT / "experiments" / "configs" / "digits.yaml")

RUN_KEYS = {
    "seed",
    "test_acc",
    "epochs_to_target",
    "final_acc",
    "selected_noisy_fraction",
    "selected_redundant_fraction",
    "seconds_per_epoch",
}


def test_the_recorded_commit_is_the_one_the_run_started_from(tmp_path, monkeypatch):
    """A checkout that moves on during a long run must not relabel the code that ran."""
    from bayes_dps.runs import session

    commits = iter(["a" * 40, "b" * 40])
    monkeypatch.setattr(session, "git_commit", lambda: next(commits))
    out = tmp_path / "run"
    args = ["online", "--config", DIGITS, "--out", str(out), *FAST]
    args += ["--set", "epochs=1", "--set", "seeds=[0]", "--set", "methods=[uniform]"]
    assert main(args) == 0
    assert json.loads((out / "results.json").read_text())["provenance"]["git_commit"] == "a" * 40


def test_online_writes_results_contract(tmp_path):
    out = tmp_path / "run"
    args = ["online", "--config", DIGITS, "--out", str(out), *FAST]
    args += ["--set", "epochs=3", "--set", "seeds=[0, 1]", "--set", "dataset.noise=0.2"]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"config", "methods", "predictors", "world_size", "provenance"}
    assert results["world_size"] == 1
    prov = results["provenance"]
    assert prov["version"] and prov["torch"] and prov["threads"] == 1 and prov["started"]
    assert results["config"]["dataset"]["noise"] == 0.2
    uniform = results["methods"]["uniform"]
    assert [r["seed"] for r in uniform["seeds"]] == [0, 1]
    for r in uniform["seeds"]:
        assert RUN_KEYS <= set(r)
        assert len(r["test_acc"]) == 3
        assert set(r["epochs_to_target"]) == {"0.90", "0.95"}
        # uniform selection sees label noise at the corruption rate
        assert 0.1 < r["selected_noisy_fraction"] < 0.3
    summary = uniform["summary"]
    assert summary["final_acc"]["n"] == 2 and summary["final_acc"]["std"] >= 0
    assert set(summary["epochs_to_target"]) == {"0.90", "0.95"}
    assert (out / "curves.png").stat().st_size > 1000
    assert (out / "runs" / "uniform" / "seed1.json").is_file()


def test_digits_config_reaches_95_percent(tmp_path):
    """The issue's acceptance run, one seed: clean digits, MLP, uniform."""
    out = tmp_path / "digits"
    assert main(["online", "--config", DIGITS, "--out", str(out), *FAST, "--set", "seeds=[0]"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["methods"]["uniform"]["seeds"][0]["final_acc"] >= 0.95


@pytest.mark.parametrize("meta", [False, True])
def test_same_config_runs_on_npz(tmp_path, meta):
    path = write_npz(tmp_path / "mine.npz", meta=meta, n_train=400, n_test=100)
    out = tmp_path / "npz"
    args = ["online", "--config", DIGITS, "--out", str(out), *FAST]
    args += ["--set", "dataset.name=npz", "--set", f"dataset.path={path}", "--set", "epochs=5"]
    args += ["--set", "seeds=[0]"]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["methods"]["uniform"]["seeds"][0]["final_acc"] > 0.8


def test_resume_continues_killed_run_to_same_results(tmp_path, monkeypatch, capsys):
    args = ["--config", DIGITS, "--quiet", "--set", "device=cpu", "--set", "epochs=4"]
    args += ["--set", "seeds=[0, 1]", "--set", "dataset.noise=0.2"]
    assert main(["online", *args, "--out", str(tmp_path / "ref")]) == 0

    calls = {"n": 0}
    original = online.OnlineSelectionEpoch.run_epoch

    def dying(self, epoch):
        calls["n"] += 1
        if calls["n"] == 6:  # seed 0 done (4 epochs), seed 1 killed in its 2nd epoch
            raise KeyboardInterrupt
        return original(self, epoch)

    monkeypatch.setattr(online.OnlineSelectionEpoch, "run_epoch", dying)
    out = tmp_path / "killed"
    assert main(["online", *args, "--out", str(out)]) == 130  # Ctrl-C: one line, exit 130
    hint = capsys.readouterr().err.strip().splitlines()
    assert len(hint) == 1 and hint[0].startswith("interrupted: ") and "--resume" in hint[0]
    assert not (out / "results.json").exists()
    assert (out / "checkpoints" / "uniform_seed1.pt").is_file()
    monkeypatch.setattr(online.OnlineSelectionEpoch, "run_epoch", original)
    assert main(["online", *args, "--out", str(out), "--resume"]) == 0

    def strip(path):
        return without_timings(json.loads((path / "results.json").read_text()))

    assert strip(out) == strip(tmp_path / "ref")
    assert not (out / "checkpoints" / "uniform_seed1.pt").exists()


def test_a_resume_without_the_set_options_is_refused_and_the_printed_command_resumes(
    tmp_path, monkeypatch, capsys
):
    """Ctrl-C prints the command that continues the run, ``--set`` options included; a resume
    that leaves them out (and so would run every method and seed of the config) is refused
    naming ``methods`` and ``seeds``."""
    import re
    import shlex

    out = tmp_path / "cut"
    base = ["online", "--config", "digits_noisy", "--out", str(out), *FAST]
    sets = ["--set", "epochs=2", "--set", "methods=[uniform, train_loss]", "seeds=[0, 1]"]
    calls = {"n": 0}
    original = online.OnlineSelectionEpoch.run_epoch

    def dying(self, epoch):
        calls["n"] += 1
        if calls["n"] == 3:  # uniform seed 0 done, seed 1 killed in its first epoch
            raise KeyboardInterrupt
        return original(self, epoch)

    monkeypatch.setattr(online.OnlineSelectionEpoch, "run_epoch", dying)
    assert main([*base, *sets]) == 130
    hint = capsys.readouterr().err.strip()
    printed = re.search(r"continue with `(.*)`$", hint).group(1)
    monkeypatch.setattr(online.OnlineSelectionEpoch, "run_epoch", original)

    assert main([*base, "--set", "epochs=2", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "methods: ['uniform', 'train_loss'] → " in err and "seeds: [0, 1] → [0, 1, 2]" in err
    assert "--set 'methods=[\"uniform\", \"train_loss\"]' 'seeds=[0, 1]'" in err, err

    argv = shlex.split(printed)
    assert argv[0] == "bayes-dps" and "--resume" in argv
    assert main(argv[1:]) == 0
    assert "uniform seed 0: finished earlier, reusing" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert {m: [r["seed"] for r in v["seeds"]] for m, v in results["methods"].items()} == {
        "uniform": [0, 1],
        "train_loss": [0, 1],
    }


def test_an_interrupt_before_anything_finished_says_so(tmp_path, monkeypatch, capsys):
    def dying(self, epoch):
        raise KeyboardInterrupt

    monkeypatch.setattr(online.OnlineSelectionEpoch, "run_epoch", dying)
    out = tmp_path / "cut"
    args = ["online", "--config", "digits_noisy", *FAST, "--set", "methods=[uniform]"]
    assert main([*args, "--out", str(out)]) == 130
    hint = capsys.readouterr().err.strip()
    assert "no run had finished or checkpointed yet" in hint and "kept" not in hint, hint


def test_demo_runs_both_offline_defaults(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), *FAST, "--set", "epochs=2", "--set", "seeds=[0]"]
    for s in ("seeds=[0]", "steps=100", "eval_every=50", "methods=[mixing, bads]",
              "bads.s_avg=50", "device=cpu", "checkpoint=false"):  # fmt: skip
        args += ["--bads-set", s]
    assert main(args) == 0
    online, bads = out / "online", out / "bads"
    assert (online / "results.json").is_file() and (online / "curves.png").is_file()
    assert json.loads((online / "results.json").read_text())["config"]["name"] == "digits_noisy"
    results = json.loads((bads / "results.json").read_text())
    assert results["config"]["name"] == "digits_denoise" and set(results["methods"]) == {
        "mixing",
        "bads",
    }
    assert (bads / "posterior.nc").is_file() and (bads / "weights.png").is_file()
    assert "bads weights: one chain only: no R-hat" in capsys.readouterr().out


def bad_labels_npz(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(
        path,
        x_train=np.zeros((400, 3), np.float32),
        y_train=np.r_[np.zeros(399, int), 7],
        x_test=np.zeros((10, 3), np.float32),
        y_test=np.zeros(10, int),
        num_classes=3,
    )
    return path


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["dataset.name=npz", "dataset.path={bad}"], "must lie in [0, 3); found 7"),
        (["dataset.name=imagenet"], "dataset.name must be one of cifar10, cifar100, digits"),
        (["model=resnet1000"], "model must be one of auto, hashbag, lenet5, mlp"),
        (["dataset.name=cifar10", "dataset.path={tmp}"], "cifar-10-batches-py"),
        (["dataset.name=npz", "dataset.path={tmp}/absent.npz"], "does not exist"),
        (["n_b=500"], "n_b=500 exceeds n_B=320"),
        (["methods=[uniform, oracle]"], "methods[1] must be one of bayesian, cleanlab, grad_norm"),
        (["epochs"], "--set expects key=value"),
        (["dataset..noise=1"], "not a dotted name"),
        (["dataset.noise=[0.2"], "--set dataset.noise: cannot parse '[0.2' as YAML (line 1"),
    ],
)
def test_bad_input_clear_error_and_no_results(tmp_path, capsys, sets, message):
    bad = bad_labels_npz(tmp_path)
    out = tmp_path / "out"
    args = ["online", "--config", DIGITS, "--out", str(out), "--quiet", "--set", "device=cpu"]
    for s in sets:
        args += ["--set", s.format(bad=bad, tmp=tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not (out / "results.json").exists()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["online", "--config", "digits_denoise"],
            "digits_denoise is a `bayes-dps bads` config (it sets 'steps', which `bayes-dps "
            "online` configs do not have); run `bayes-dps bads --config digits_denoise`",
        ),
        (
            ["bads", "--config", "digits_noisy"],
            "digits_noisy is a `bayes-dps online` config (it sets 'epochs'",
        ),
        (
            ["online", "--config", "digits_noisy", "--set", "steps=3"],
            "--set steps: 'steps' is a key of `bayes-dps bads` configs",
        ),
        (["online", "--config", "digits_nosy"], "did you mean digits_noisy?"),
        (
            ["online", "--config", "digits_noisy", "--sweep", "bayesian.alpha"],
            "--sweep expects KEY=V1,V2,..., got 'bayesian.alpha' (example: --sweep",
        ),
        (
            ["online", "--config", "digits_noisy", "--set", "methods=bayesian"],
            "; for one item write methods=[bayesian]",
        ),
    ],
)
def test_errors_name_what_was_actually_used_and_the_fix(tmp_path, capsys, argv, expected):
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and expected in err, err
    assert len(err) < 300, err  # no list of every bundled config
    assert not (tmp_path / "run").exists()


def test_configs_lists_whole_sentences(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    from bayes_dps import configs

    for name, path in configs.bundled().items():
        _, text = configs.describe(path)
        assert text.endswith((".", ")")), (name, text)
    assert main(["configs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 100
