"""Hostile inputs met by a new user or a fuzzer: each ends in one ``error:`` line that names the
value and the fix, exit status 2, and an ``--out`` left as it was (no ``run.json``, no lock) —
every check of the config against the data runs before the folder is taken."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import FAST

from bayes_dps.cli import main

ONLINE = ["online", "--config", "digits_noisy", *FAST, "--set", "seeds=[0]", "epochs=1",
          "methods=[uniform]"]  # fmt: skip
BADS = ["bads", "--config", "digits_denoise", *FAST, "--set", "seeds=[0]", "steps=10",
        "eval_every=5", "bads.s_avg=5", "methods=[bads]",
        "model_options={hidden: [8]}"]  # fmt: skip


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Broken data files in the formats users bring."""
    d = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(0)
    good = {
        "x_train": rng.normal(size=(60, 4)).astype(np.float32), "y_train": rng.integers(0, 3, 60),
        "x_test": rng.normal(size=(20, 4)).astype(np.float32), "y_test": rng.integers(0, 3, 20),
    }  # fmt: skip
    np.savez(d / "good.npz", **good)
    np.savez(d / "empty.npz")
    y = good["y_train"].astype(float)
    y[5] = np.nan
    np.savez(d / "nan_label.npz", **{**good, "y_train": y})
    (d / "truncated.npz").write_bytes((d / "good.npz").read_bytes()[:300])
    np.savez(d / "object.npz", **{**good, "x_train": np.array([{"a": 1}] * 60, dtype=object)})
    np.savez(d / "inf.npz", **{**good, "x_train": np.full((60, 4), np.inf, np.float32)})
    (d / "latin1.jsonl").write_bytes(
        '{"instruction": "caf\xe9", "output": "x"}\n'.encode("latin-1")
    )
    (d / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (d / "nested.jsonl").write_text(json.dumps({"instruction": [[["x"]]], "output": "y"}) + "\n")
    return d


def npz(files, name):
    return ["dataset.name=npz", f"dataset.path={files / name}"]


CASES = {  # name: (argv, what the error line must say)
    "beta prior a=1e-300": (
        [*BADS, "bads.prior={name: beta, a: 1e-300, b: 1}"], "bads.prior.a must be a number in"),
    "beta prior a=1e300": (
        [*BADS, "bads.prior={name: beta, a: 1e300, b: 1}"], "bads.prior.a must be a number in"),
    "sigma=1e-300": ([*BADS, "bads.prior.sigma=1e-300"], "bads.prior.sigma must be a number"),
    "sigma=1e300": ([*BADS, "bads.prior.sigma=1e300"], "bads.prior.sigma must be a number"),
    "logit loc=1e300": (
        [*BADS, "bads.prior={name: logit_normal, loc: 1e300, scale: 1}"], "bads.prior.loc"),
    "thin=0": ([*BADS, "bads.thin=0"], "bads.thin must be an integer"),
    "contrastive.base_steps=1e8": (
        [*BADS, "contrastive.base_steps=100000000"], "contrastive.base_steps must be"),
    "steps=1e8": ([*BADS, "steps=100000000", "eval_every=100000000"], "steps must be"),
    "traces beyond memory": (
        [*BADS, "steps=10000000", "eval_every=10000000", "bads.thin=1"], "raise bads.thin"),
    "a network beyond memory": (
        [*ONLINE, "model_options={hidden: [65536, 65536, 65536]}"],
        "make the network smaller"),
    "name=../../escaped": ([*ONLINE, "name=../../escaped"], "a name of letters, digits"),
    "name=a/b": ([*ONLINE, "name=a/b"], "a name of letters, digits"),
    "n_b > n_B": ([*ONLINE, "n_b=500"], "n_b=500 exceeds n_B=320"),
    "n_B > the training set": ([*ONLINE, "n_B=5000", "n_b=10"], "n_B=5000 exceeds the"),
    "no meta set for BADS": ([*BADS, "dataset.meta_per_class=0"], "curated meta set D_m"),
    "no holdout set for rho_loss": (
        [*ONLINE, "methods=[rho_loss]", "dataset.meta_per_class=0"], "need a holdout model"),
    "npz empty": ([*ONLINE, "NPZ=empty.npz"], "holds no arrays"),
    "npz NaN label": ([*ONLINE, "NPZ=nan_label.npz"], "must be integer class ids"),
    "npz truncated": ([*ONLINE, "NPZ=truncated.npz"], "cannot be read"),
    "npz object array": ([*ONLINE, "NPZ=object.npz"], "is an object array, which is not loaded"),
    "npz infinite inputs": ([*ONLINE, "NPZ=inf.npz"], "NaN or infinite"),
    "npz is a folder": ([*ONLINE, "NPZ=."], "is a folder"),
    "jsonl in Latin-1": (
        ["bads", "--config", "llm_ift", *FAST, "--set", "SOURCES=latin1.jsonl"], "not UTF-8"),
    "json nested too deeply": (
        ["bads", "--config", "llm_ift", *FAST, "--set", "SOURCES=deep.json"], "nested too deeply"),
    "jsonl field not text": (
        ["bads", "--config", "llm_ift", *FAST, "--set", "SOURCES=nested.jsonl"],
        "'instruction' must be text"),
    "an unknown option": ([*ONLINE, "--bogus"], "unrecognized arguments: --bogus"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input_ends_in_one_error_line_and_a_clean_out(case, files, tmp_path, capsys):
    argv, message = CASES[case]
    argv = [a for a in argv]
    for i, a in enumerate(argv):
        if a.startswith("NPZ="):
            argv[i : i + 1] = npz(files, a[4:])
        elif a.startswith("SOURCES="):
            argv[i] = f"dataset.sources=[{files / a[8:]}]"
    out = tmp_path / "out"
    with pytest.raises(SystemExit) if "--bogus" in argv else _nothing():
        code = main([*argv, "--out", str(out)])
        assert code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert message in err[0], err[0]
    assert not out.exists(), f"--out was touched: {sorted(p.name for p in out.iterdir())}"


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_several_keys_after_one_set(tmp_path):
    out = tmp_path / "run"
    assert main(["online", "--config", "digits_noisy", *FAST, "--set", "seeds=[0]", "epochs=1",
                 "methods=[uniform]", "--out", str(out)]) == 0  # fmt: skip
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["epochs"] == 1 and list(res["methods"]) == ["uniform"]


def test_sweep_folders_stay_inside_the_sweep(tmp_path):
    """A swept value that holds a path becomes a file-name-safe folder (with a hash of the
    value, so two values never share one), inside ``--out``."""
    out = tmp_path / "sweep"
    args = ["online", "--config", "digits_noisy", *FAST, "--set", "seeds=[0]", "epochs=1",
            "methods=[uniform]", "--sweep", "cache_dir=../x/y,z", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(folders) == 2 and all(f.startswith("cache_dir=") for f in folders), folders
    assert not (tmp_path / "x").exists()


def test_resume_with_other_threads_is_refused_naming_them(tmp_path, capsys):
    """The thread count changes a run's numbers in their last bits (the order of a matrix
    product's sums), so it is in the fingerprint: a resume with other threads is refused."""
    out = tmp_path / "run"
    args = ["online", "--config", "digits_noisy", *FAST, "--set", "seeds=[0]", "epochs=1",
            "methods=[uniform]", "--out", str(out)]  # fmt: skip
    assert main([*args, "--threads", "1"]) == 0
    capsys.readouterr()
    assert main([*args, "--threads", "2", "--set", "seeds=[0, 1]", "--resume", "--extend"]) == 2
    err = capsys.readouterr().err
    assert "runtime.threads: 1 → 2" in err, err
