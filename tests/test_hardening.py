"""Regression tests of the hardening: each failure a careless or hostile user found, kept so.

1. BADS on data without corruption (no empty-group NaN); 2. config fingerprints, locks and
``--resume`` checks; 3. bounded inputs; 4. one ``error:`` line instead of tracebacks (a file as
``--out``, a read-only or full disk, broken checkpoints, malformed YAML, a results file that is
not an object); 5. values of the wrong type or range; 6. edges of the library API.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import ROOT

from bayes_dps import BADSSampler, ModelPredictor, OnlineSelector, truncated_normal
from bayes_dps.cli import main
from bayes_dps.config import load_config
from bayes_dps.config.reference import replace_in, tables
from bayes_dps.data import load_data
from bayes_dps.errors import ConfigError, DataError
from bayes_dps.models import build_model
from bayes_dps.runs.seeds import with_checksum
from bayes_dps.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

QUICK = ["--quiet", "--set", "device=cpu", "--set", "seeds=[0]"]
ONLINE_FAST = [*QUICK, "--set", "epochs=2", "--set", "methods=[uniform]"]
BADS_FAST = [*QUICK, "--set", "steps=20", "--set", "eval_every=10", "--set", "bads.s_avg=10"]
BADS_FAST += ["--set", "bads.thin=2", "--set", "model_options={hidden: [16]}"]


def online(out: Path, *sets: str, extra: tuple[str, ...] = ()) -> int:
    args = ["online", "--config", "digits_noisy", "--out", str(out), *ONLINE_FAST, *extra]
    for s in sets:
        args += ["--set", s]
    return main(args)


def bads(out: Path, *sets: str, extra: tuple[str, ...] = ()) -> int:
    args = ["bads", "--config", "digits_denoise", "--out", str(out), *BADS_FAST, *extra]
    for s in sets:
        args += ["--set", s]
    return main(args)


def one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    errors = [line for line in err if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in "\n".join(err), err
    return errors[0]


# ------------------------------------------------------------ 1. clean data
@pytest.mark.parametrize("method", ["bads", "bads_weightnet", "blo"])
def test_bads_on_clean_data_reports_only_the_groups_that_exist(tmp_path, method):
    out = tmp_path / "clean"
    sets = ("dataset.noise=0.0", f"methods=[{method}]", "bads.weight_net_warmup=5")
    assert bads(out, *sets) == 0
    run = json.loads((out / "results.json").read_text())["methods"][method]["seeds"][0]
    assert set(run["group_weights"]) == {"clean"} and set(run["final_group_weights"]) == {"clean"}
    assert bads(out, *sets, extra=("--resume",)) == 0  # reusing the record works too


# ------------------------------------------------- 2. fingerprints and locks
def test_resume_refuses_another_config_and_names_the_keys(tmp_path, capsys):
    out = tmp_path / "run"
    assert online(out) == 0
    assert online(out, "optimizer.lr=0.01", extra=("--resume",)) == 2
    line = one_error_line(capsys)
    assert "optimizer.lr: 0.001 → 0.01" in line and "--resume" in line
    # another list of seeds is refused by a plain resume, and widens the run with --extend,
    # reusing the finished seed; a later plain resume continues the widened run
    assert online(out, "seeds=[0, 1]", extra=("--resume",)) == 2
    line = one_error_line(capsys)
    assert "seeds: [0] → [0, 1]" in line and "--set 'seeds=[0]'" in line and "--extend" in line
    assert online(out, "seeds=[0, 1]", extra=("--resume", "--extend")) == 0
    assert "finished earlier, reusing" in capsys.readouterr().out
    assert online(out, "seeds=[0, 1]", extra=("--resume",)) == 0


@pytest.mark.parametrize("command", ["online", "bads"])
def test_a_plain_resume_compares_every_key_but_the_presentation_ones(command):
    """The one list of what may differ on resume: changing any other top-level key of the
    schema (the run lists included) is a difference; ``--extend`` lets the run lists differ."""
    from bayes_dps.config.loading import COMMANDS
    from bayes_dps.config.schema import defaults
    from bayes_dps.runs.fingerprint import (
        PRESENTATION_KEYS,
        RUN_LIST_KEYS,
        RUNTIME_KEYS,
        resume_diff,
    )

    cfg = defaults(COMMANDS[command])
    for key in cfg:
        changed = {**cfg, key: ["a value no config has"]}
        compared = key not in (*PRESENTATION_KEYS, *RUNTIME_KEYS)
        assert bool(resume_diff(cfg, changed)) == compared, key
        assert bool(resume_diff(cfg, changed, extend=True)) == (
            compared and key not in RUN_LIST_KEYS
        ), key
    assert resume_diff(cfg, cfg, {"threads": 1}, {"threads": 2}) == ["runtime.threads: 1 → 2"]


def test_a_record_from_another_config_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert online(out) == 0
    record = out / "runs" / "uniform" / "seed0.json"
    data = json.loads(record.read_text())
    data["config_fingerprint"] = "0" * 16
    record.write_text(json.dumps(with_checksum(data)))  # whole, but from another config
    assert online(out, extra=("--resume",)) == 2
    assert "seed0.json was written by a run with another config" in one_error_line(capsys)


def test_a_fresh_run_does_not_overwrite_finished_runs(tmp_path, capsys):
    out = tmp_path / "run"
    assert online(out) == 0
    assert online(out) == 2
    assert "already holds finished runs; continue them with --resume" in one_error_line(capsys)


def test_resume_into_an_empty_folder_says_it_starts_fresh(tmp_path, capsys):
    assert online(tmp_path / "new", extra=("--resume",)) == 0
    assert "nothing to resume" in capsys.readouterr().out


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_runs(tmp_path):
    out = tmp_path / "busy"
    cmd = [sys.executable, "-m", "bayes_dps.cli", "online", "--config", "digits_noisy"]
    cmd += ["--out", str(out), "--quiet", "--set", "epochs=400", "--set", "methods=[uniform]"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):  # wait until the first run holds the folder
            if (out / "run.json").is_file():
                break
            time.sleep(0.1)
        second = subprocess.run(cmd, capture_output=True, text=True)
        assert second.returncode == 2
        assert "another bayes-dps run is writing into" in second.stderr
    finally:
        first.kill()
        first.wait()


# -------------------------------------------------------- 3. bounded inputs
def test_a_huge_seed_count_is_refused_before_anything_is_allocated(tmp_path):
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))\n"
        "from bayes_dps.cli import main\n"
        f"sys.exit(main(['online', '--config', 'digits_noisy', '--out', {str(tmp_path)!r},"
        " '--set', 'seeds=999999999']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: seeds must be a count in [1, 1000]")
    assert not (tmp_path / "run.json").exists()  # refused before the folder was touched


# ------------------------------------------------- 4. one error line, no traceback
def test_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert online(target) == 2
    assert "is an existing file, not a folder" in one_error_line(capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_is_read_only(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        assert online(folder / "run") == 2
        assert "cannot write into --out" in one_error_line(capsys)
    finally:
        folder.chmod(0o700)


def test_out_is_read_only_as_the_os_reports_it(tmp_path, capsys, monkeypatch):
    """The same path as above, for CI machines that run as root (EACCES from the OS)."""
    real = Path.write_bytes

    def refuse(self, data):
        if self.name.startswith(".write-test-"):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", refuse)
    assert online(tmp_path / "run") == 2
    assert "cannot write into --out" in one_error_line(capsys)


def test_a_full_disk_is_one_line_and_leaves_no_results(tmp_path, capsys, monkeypatch):
    out = tmp_path / "full"
    real_fsync = os.fsync
    calls = {"n": 0}

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] > 3:  # run.json and the first files land, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    assert online(out) == 2
    line = one_error_line(capsys)
    assert "no space left on the device" in line and "--resume" in line
    assert not (out / "results.json").exists()


def test_a_truncated_checkpoint_falls_back_to_the_previous_one(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"epoch": 1})
    save_checkpoint(path, {"epoch": 2})
    path.write_bytes(path.read_bytes()[:20])  # killed mid-write by another tool, say
    with pytest.warns(RuntimeWarning, match="content hash.*resuming from the previous one"):
        assert load_checkpoint(path)["epoch"] == 1
    Path(str(path) + ".prev").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"c\.pt.*delete these files"):
        load_checkpoint(path)


def test_resume_from_a_broken_checkpoint_names_the_file(tmp_path, capsys):
    out = tmp_path / "run"
    assert online(out, "methods=[uniform]") == 0
    ckpt = out / "checkpoints" / "uniform_seed1.pt"
    ckpt.parent.mkdir(exist_ok=True)
    ckpt.write_bytes(b"")
    assert online(out, "seeds=[0, 1]", extra=("--resume", "--extend")) == 2
    assert "uniform_seed1.pt" in one_error_line(capsys)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dataset:\n  noise: [0.2\n", "is not valid YAML: line 3, column 1"),
        ("dataset: {noise: 0.2\n", "is not valid YAML: line 2"),
    ],
)
def test_malformed_yaml_file_is_one_line_with_the_line_number(tmp_path, capsys, text, message):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    assert main(["online", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    line = one_error_line(capsys)
    assert message in line and str(cfg) in line


def test_malformed_set_value_is_one_line(tmp_path, capsys):
    assert online(tmp_path / "o", "model_options={hidden: [8}") == 2
    line = one_error_line(capsys)
    assert line.startswith("error: --set model_options: cannot parse") and "column" in line


@pytest.mark.parametrize("content", ["[1, 2]", '"text"', "3"])
def test_report_on_results_that_are_not_an_object(tmp_path, capsys, content):
    (tmp_path / "results.json").write_text(content)
    assert main(["report", str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "not a results object" in report


# ------------------------------------------------------- 5. types and ranges
@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("bayesian.adaptive_alpha=4", "bayesian.adaptive_alpha must be true or false, got 4"),
        ("bayesian.adaptive_alpha=[2, 1]", "must be true or false, got [2, 1]"),
        ("optimizer.momentum=4.8e15", "optimizer.momentum must be a number in [0, 1)"),
        ("svp.lr=3.7e16", "svp.lr must be a number in (0, 10]"),
        ("svp.seed=1.12", "svp.seed must be an integer"),
        ("dataset.image_size=1.99", "dataset.image_size must be an integer"),
        ("checkpoint=0.0", "checkpoint must be true or false, got 0.0"),
        ("holdout.cache=[[1]]", "holdout.cache must be true or false"),
        ("dataset.num_classes=[]", "dataset.num_classes must be `null` or an integer"),
        ("zero_shot.classnames=-2.4e16", "zero_shot.classnames must be `null` or a list"),
        ("model_options=0", "model_options must be a mapping"),
        ("model_options={width: 3}", "unknown option model_options.width"),
        ("device=[cpu]", "device must be `auto`, `cpu`"),
        ("holdout.lr=[2, 1]", "holdout.lr must be a number"),
        ("dataset.name=[]", "dataset.name must be one of"),
        ("bayesian.n_e=.nan", "bayesian.n_e must be a number"),
        ("epochs=1e9", "epochs must be an integer"),
        ("threads=0", "threads must be one of `auto` or an integer in [1, 1024]"),
        ("dataset.domain={fraction: 2}", "dataset.domain needs kind"),
    ],
)
def test_every_key_has_a_type_and_range(item, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, [item], "online")
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["bads.prior={name: beta, a: 2}"], "takes exactly ['a', 'b']: missing ['b']"),
        (["bads.prior={name: beta, a: 2, b: 2, c: 1}"], "unknown ['c']"),
        (["bads.prior={name: logit_normal, loc: 0}"], "missing ['scale']"),
        (["bads.kernel=gibbs", "bads.prior={name: beta, a: 2, b: 2}"], "needs bads.prior.name"),
        (["bads.kernel=gibbs", "methods=[bads_weightnet]"], "applies to per-instance w only"),
        (["steps=10", "eval_every=3"], "steps=10 must be a multiple of eval_every=3"),
    ],
)
def test_bads_configs_are_checked_as_a_whole(items, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, items, "bads")
    assert message in str(err.value)


def test_the_config_reference_is_generated_from_the_schema():
    page = (ROOT / "docs" / "config.md").read_text()
    assert replace_in(page) == page, "run: make docs-pages"
    assert "| `bayesian.adaptive_alpha` | `false` | true or false |" in tables()["online"]


def test_a_lone_label_warns_and_one_class_is_an_error(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)).astype(np.float32)
    lone = tmp_path / "lone.npz"
    y = np.r_[rng.integers(0, 3, 59), 57]
    np.savez(lone, x_train=x, y_train=y, x_test=x[:10], y_test=y[:10] % 3)
    with pytest.warns(UserWarning, match=r"54 of 58 classes have no training examples \(3, 4"):
        assert load_data({"name": "npz", "path": str(lone)}).num_classes == 58
    one = tmp_path / "one.npz"
    np.savez(one, x_train=x, y_train=np.zeros(60, int), x_test=x[:5], y_test=np.zeros(5, int))
    with pytest.raises(DataError, match="needs at least 2"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_data({"name": "npz", "path": str(one)})


# --------------------------------------------------------- 6. library edges
def _selector(rule: str):
    torch.manual_seed(0)
    model = build_model("mlp", (4,), 3, {"hidden": [8]})
    val = build_model("mlp", (4,), 3, {"hidden": [8]})
    return OnlineSelector(model, rule, ModelPredictor(val), num_samples=5)


@pytest.mark.parametrize("rule", ["uniform", "bayesian", "train_loss", "grad_norm_is"])
@pytest.mark.parametrize("n_b", [11, -3, 0, 2.5, True])
def test_select_validates_n_b_for_every_rule(rule, n_b):
    selector = _selector(rule)
    x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    with pytest.raises(ConfigError, match=r"n_b=.* must be an integer between 1 and .* size 10"):
        selector.select(x, y, torch.arange(10), n_b)


def test_select_refuses_labels_out_of_range_and_mismatched_lengths():
    selector = _selector("bayesian")
    x = torch.randn(10, 4)
    with pytest.raises(DataError, match=r"label 7 is outside \[0, 3\)"):
        selector.select(x, torch.tensor([0] * 9 + [7]), torch.arange(10), 4)
    with pytest.raises(DataError, match="same length"):
        selector.select(x, torch.zeros(10, dtype=torch.long), torch.arange(9), 4)


def test_model_predictor_takes_any_module_and_checks_its_outputs():
    headless = torch.nn.Sequential(torch.nn.Linear(4, 3))
    pred = ModelPredictor(headless)
    pred.check_classes(3)
    assert pred.logits(torch.randn(5, 4)).shape == (5, 3)
    wrong = ModelPredictor(torch.nn.Sequential(torch.nn.Linear(4, 5)))
    wrong.check_classes(3)
    with pytest.raises(DataError, match="predicts 5 classes but the dataset has 3"):
        wrong.logits(torch.randn(2, 4))
    selector = OnlineSelector(build_model("mlp", (4,), 3, {"hidden": [8]}), "rho_loss", pred)
    sel = selector.select(torch.randn(10, 4), torch.randint(0, 3, (10,)), torch.arange(10), 4)
    assert len(sel.positions) == 4


def test_bads_sampler_names_empty_batches_and_bad_labels():
    model = build_model("mlp", (4,), 3, {"hidden": [8]})
    sampler = BADSSampler(model, 20, 5, prior=truncated_normal(0.5, 1.0))
    x, y, idx = torch.randn(4, 4), torch.randint(0, 3, (4,)), torch.arange(4)
    empty = (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    with pytest.raises(DataError, match="meta batch B_m is empty"):
        sampler.step((x, y, idx), empty)
    with pytest.raises(DataError, match="training batch B_t is empty"):
        sampler.step(empty, (x, y, idx))
    with pytest.raises(DataError, match=r"label 9 in the meta batch B_m is outside \[0, 3\)"):
        sampler.step((x, y, idx), (x, torch.tensor([0, 1, 2, 9]), idx))
    with pytest.raises(DataError, match=r"outside \[0, N_t=20\)"):
        sampler.step((x, y, idx + 30), (x, y, idx))
