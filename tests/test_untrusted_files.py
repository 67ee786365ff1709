"""Files a run did not write, read as untrusted: configs and their ``base:``, checkpoints,
cached logits, data files and stored run records. Each case ends in one ``error:`` line naming
the file, what is wrong and the fix (exit status 2), prints none of the file's content, never
suggests turning the safe loader off, and leaves ``--out`` as it was."""

from __future__ import annotations

import pytest
from helpers import FAST

from bayes_dps.cli import main

ONLINE = ["online", *FAST, "--set", "seeds=[0]", "epochs=1", "methods=[uniform]"]

#: what a secret file holds: none of it may reach an error message
SECRET = "alice:$6$c2FsdA$hunter2hash:19000:0:99999:7:::"


def error_of(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0] and "weights_only=False" not in err[0], err
    return err[0]


def config(tmp_path, text: str, name: str = "run.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def run_config(tmp_path, capsys, path: str) -> str:
    out = tmp_path / "out"
    assert main([*ONLINE, "--config", path, "--out", str(out)]) == 2
    assert not out.exists()
    return error_of(capsys)


@pytest.mark.parametrize("secret_name", ["shadow", "secret.yaml"])
def test_base_never_prints_the_file_it_names(tmp_path, capsys, secret_name):
    """A shared config's ``base:`` naming a system file: refused unread (not a bundled name, not
    a .yaml path), or read and refused as not a config — without a byte of it in the error."""
    (tmp_path / secret_name).write_text(SECRET + "\nbob: x\n")
    line = run_config(tmp_path, capsys, config(tmp_path, f"base: {secret_name}\nepochs: 1\n"))
    assert "alice" not in line and "hunter2" not in line and "bob" not in line, line
    assert secret_name in line
    if secret_name == "shadow":
        assert "names neither a bundled config nor a .yaml file" in line
    else:
        assert "is not a bayes-dps config" in line


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("/dev/zero", "is not a regular file (a device or a pipe?)"),
        (".", "is a folder"),
    ],
)
def test_a_config_that_is_not_a_file_is_refused(tmp_path, capsys, target, message):
    assert message in run_config(tmp_path, capsys, target)


def test_an_oversized_config_is_refused_unread(tmp_path, capsys):
    path = config(tmp_path, "epochs: 1\n" + "#" * (1 << 20) + "\n")
    assert "more than a config's 1,048,576" in run_config(tmp_path, capsys, path)


def test_deep_nesting_is_a_clean_error_not_a_recursion_error(tmp_path, capsys):
    path = config(tmp_path, "methods: " + "[" * 5000 + "]" * 5000 + "\n")
    line = run_config(tmp_path, capsys, path)
    assert "nested more than 32 levels deep" in line and "line 1" in line


def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path, capsys):
    path = config(tmp_path, "base: digits_noisy\nepochs: 1\nseeds: [0]\nepochs: 5\n")
    line = run_config(tmp_path, capsys, path)
    assert "the key 'epochs' is given twice (lines 2 and 4)" in line


def test_a_duplicate_key_in_a_set_value_is_refused_too(tmp_path, capsys):
    out = tmp_path / "out"
    argv = [*ONLINE, "--config", "digits_noisy", "--out", str(out)]
    assert main([*argv, "--set", "optimizer={lr: 0.1, lr: 0.2}"]) == 2
    assert "the key 'lr' is given twice" in error_of(capsys)


# ------------------------------------------------------------------ tensor files
class Payload:
    """Pickles to a call of ``Path.touch`` on ``marker``: it must never run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (type(self.marker).touch, (self.marker,))


def tensor_files(tmp_path) -> dict[str, object]:
    """Broken tensor files: a pickled payload, garbage bytes, a dict without the fields, a list."""
    import torch

    marker = tmp_path / "PWNED"
    files = {"payload": tmp_path / "payload.pt", "garbage": tmp_path / "garbage.pt",
             "no_fields": tmp_path / "dict.pt", "list": tmp_path / "list.pt"}  # fmt: skip
    torch.save({"logits": Payload(marker)}, files["payload"])
    files["garbage"].write_bytes(bytes(range(256)) * 4)
    torch.save({"logits": torch.zeros(3, 2), "fingerprint": "x"}, files["no_fields"])
    torch.save([torch.zeros(2)], files["list"])
    return {**files, "marker": marker}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("payload", "holds a Python object ("),
        ("garbage", "is not a PyTorch tensor file (damaged, truncated or another format)"),
        ("no_fields", "'num_points' must be a int, the file holds nothing"),
        ("list", "holds a list, not a logit cache"),
    ],
)
def test_a_broken_logit_cache_is_refused_before_the_run_folder(tmp_path, capsys, case, message):
    files = tensor_files(tmp_path)
    out = tmp_path / "out"
    argv = [*ONLINE, "--config", "digits_noisy", "--out", str(out), "--set", "methods=[bayesian]",
            "zero_shot.name=cached", f"zero_shot.cache_path={files[case]}"]  # fmt: skip
    assert main(argv) == 2
    line = error_of(capsys)
    assert f"logit cache {files[case]}" in line and message in line, line
    assert "delete it (it is recomputed)" in line
    assert not out.exists() and not files["marker"].exists()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("payload", "holds a Python object"),
        ("garbage", "is not a PyTorch tensor file"),
        ("list", "holds a list, not a state dict"),
    ],
)
def test_a_broken_resnet_checkpoint_is_refused_before_the_run_folder(
    tmp_path, capsys, case, message
):
    files = tensor_files(tmp_path)
    out = tmp_path / "out"
    path = tmp_path / "images.npz"
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.random((20, 3, 32, 32), np.float32), y_train=np.arange(20) % 2,
             x_test=rng.random((4, 3, 32, 32), np.float32), y_test=np.arange(4) % 2)  # fmt: skip
    argv = [*ONLINE, "--config", "digits_noisy", "--out", str(out), "--set", "dataset.name=npz",
            f"dataset.path={path}", "dataset.noise=0", "dataset.meta_per_class=0", "n_B=8", "n_b=4",
            "model=resnet18_imagenet",
            f"model_options={{checkpoint: {files[case]}}}"]  # fmt: skip
    assert main(argv) == 2
    line = error_of(capsys)
    assert "model checkpoint" in line and message in line, line
    assert not out.exists() and not files["marker"].exists()


@pytest.mark.parametrize("case", ["payload", "garbage"])
def test_a_broken_clip_checkpoint_is_refused_unread_by_open_clip(tmp_path, tiny_clip_arch, case):
    from bayes_dps.errors import DataError
    from bayes_dps.selection.predictors.openclip import OpenCLIPZeroShot

    files = tensor_files(tmp_path)
    with pytest.raises(DataError) as err:
        OpenCLIPZeroShot.create(["a", "b"], arch=tiny_clip_arch, checkpoint=str(files[case]))
    text = str(err.value)
    assert f"CLIP checkpoint {files[case]}" in text and "weights_only=False" not in text
    assert ("holds a Python object" if case == "payload" else "not a PyTorch tensor") in text
    assert not files["marker"].exists()


def test_a_run_that_fails_on_bad_input_late_leaves_no_run_folder(tmp_path, capsys, monkeypatch):
    """Bad input met after the folder was taken (here: the holdout model's file reading fails
    as a bad file would) withdraws run.json and the lock."""
    from bayes_dps.errors import DataError
    from bayes_dps.methods.online import predictor_factory

    def broken(*args, **kwargs):
        raise DataError("cached holdout model x.pt cannot be used: planted")

    monkeypatch.setattr(predictor_factory, "fit_classifier", broken)
    out = tmp_path / "out"
    argv = [*ONLINE, "--config", "digits_noisy", "--out", str(out), "--set", "methods=[rho_loss]"]
    assert main(argv) == 2
    assert "planted" in error_of(capsys)
    assert not (out / "run.json").exists() and not (out / ".lock").exists()


# ------------------------------------------------------------------ WordNet files
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"abc noun.x 1\n", "line 1: 'abc noun.x 1' is not a lexnames line"),
        (b"00 adj.all 3\n01 adj.p\xe9rt 3\n", "byte 21 is not ASCII text"),
        (b"00 adj.all 3\n02 adj.pert 3\n", "not 0..1 without gaps"),
    ],
)
def test_a_broken_lexnames_file_is_named_with_its_line(tmp_path, content, message):
    from bayes_dps.data.wordnet import load_wordnet
    from bayes_dps.errors import DataError
    from tests.text_files import write_wordnet

    folder = write_wordnet(tmp_path / "dict", per_domain=2)
    (folder / "lexnames").write_bytes(content)
    with pytest.raises(DataError, match="lexnames") as err:
        load_wordnet(folder)
    assert message in str(err.value)


def test_a_negative_lexicographer_number_is_out_of_range(tmp_path):
    from bayes_dps.data.wordnet import parse_data_file
    from bayes_dps.errors import DataError

    path = tmp_path / "data.noun"
    path.write_text("00001740 -1 n 01 entity 0 000 | that which exists\n")
    with pytest.raises(DataError, match=r"line 1: .*number -1 out of range \[0, 2\)"):
        parse_data_file(path, ["noun.tops", "noun.act"])


# ------------------------------------------------------------------ stored run records
@pytest.mark.parametrize(
    "edit",
    [
        {"final_acc": "lots"},  # a type no record has: it crashed --resume
        {"final_acc": 0.999},  # plausible: it was reused and reported
        {"seed": 3},
        None,  # not JSON at all
    ],
)
def test_resume_recomputes_a_record_that_does_not_verify(tmp_path, capsys, edit):
    import json

    out = tmp_path / "out"
    argv = [*ONLINE, "--config", "digits_noisy", "--out", str(out)]
    assert main(argv) == 0
    first = json.loads((out / "results.json").read_text())["methods"]["uniform"]["seeds"][0]
    record = out / "runs" / "uniform" / "seed0.json"
    if edit is None:
        record.write_text("{not json")
    else:
        record.write_text(json.dumps({**json.loads(record.read_text()), **edit}))
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 0
    log = capsys.readouterr().out
    assert "uniform seed 0: " in log and "recomputing it" in log and "reusing" not in log
    again = json.loads((out / "results.json").read_text())["methods"]["uniform"]["seeds"][0]
    assert again["final_acc"] == first["final_acc"] and again["seed"] == 0
    assert main([*argv, "--resume"]) == 0  # the recomputed record verifies
    assert "finished earlier, reusing" in capsys.readouterr().out


def test_report_lists_damaged_per_seed_values_and_a_summary_that_does_not_match(tmp_path, capsys):
    import json

    out = tmp_path / "out"
    assert main([*ONLINE, "--config", "digits_noisy", "--out", str(out)]) == 0
    assert main(["report", str(out)]) == 0
    assert "Damaged" not in (out / "report.md").read_text()
    results = json.loads((out / "results.json").read_text())
    method = results["methods"]["uniform"]
    method["seeds"][0]["test_acc"] = "abc"
    method["summary"]["final_acc"]["mean"] = 0.999
    (out / "results.json").write_text(json.dumps(results))
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    text = (out / "report.md").read_text()
    head = text.split("| method |")[0]
    assert "**Damaged:**" in head  # before the table it would be built on
    assert "`uniform` seed 0: `test_acc` is 'abc'" in text
    assert "the summary's mean final_acc 0.999 is not the mean of its seeds" in text
    assert "damaged: `uniform` seed 0" in capsys.readouterr().out


# ------------------------------------------------------------------ data files: the real cause
def good_arrays(n=40, k=3):
    import numpy as np

    rng = np.random.default_rng(0)
    x, x_test = (rng.normal(size=(m, 4)).astype(np.float32) for m in (n, 12))
    return {
        "x_train": x,
        "y_train": np.arange(n) % k,
        "x_test": x_test,
        "y_test": np.arange(12) % k,
    }


def npy_bytes() -> bytes:
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.arange(3))
    return buf.getvalue()


def huge_header_npz(path):
    """A .npz whose x_train header declares 4 TB (the data after it are a few bytes)."""
    import io
    import zipfile

    import numpy as np

    arrays = good_arrays()
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10**12, 1)}
    )
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, header.getvalue() + b"\0" * 8 if name == "x_train.npy" else data)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: huge_header_npz(p), "declares shape (1000000000000, 1) of float32, 3,725 GiB"),
        (lambda p: p.write_text("x_train,y_train\n1,2\n"), "is not a .npz archive"),
        (lambda p: p.write_bytes(npy_bytes()), "is a single .npy array"),
        (lambda p: p.mkdir(), "is a folder, not a file"),
        (lambda p: (p.symlink_to(p.name + ".b"), (p.parent / (p.name + ".b")).symlink_to(p.name)),
         "is a symbolic-link loop"),
    ],
)  # fmt: skip
def test_a_data_file_is_refused_for_its_real_cause(tmp_path, capsys, make, message):
    path = tmp_path / "mine.npz"
    make(path)
    out = tmp_path / "out"
    argv = [*ONLINE, "--config", "digits_noisy", "--out", str(out), "--set", "dataset.name=npz",
            f"dataset.path={path}"]  # fmt: skip
    assert main(argv) == 2
    line = error_of(capsys)
    assert message in line, line
    assert "out of memory" not in line and "pickled" not in line and not out.exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"num_classes": -3}, "num_classes in"),
        ({"num_classes": [3, 4]}, "must be one integer in [1, 100,000], got [3, 4]"),
        ({"y_train": __import__("numpy").full(40, 2**64 - 1, "uint64")},
         "found 18446744073709551615 at position 0"),
        ({"x_train": __import__("numpy").zeros((40, 0), "float32")},
         "an input needs at least one feature"),
        ({"x_train": __import__("numpy").ones((40, 4), "complex64")}, "must be real numbers"),
    ],
)  # fmt: skip
def test_the_npz_contract_is_checked_field_by_field(tmp_path, edit, message):
    import numpy as np

    from bayes_dps.data.npz import load_npz
    from bayes_dps.errors import DataError

    path = tmp_path / "mine.npz"
    np.savez(path, **{**good_arrays(), **edit})
    with pytest.raises(DataError) as err:
        load_npz(path)
    assert message in str(err.value), err.value
    assert "must lie in [0, -3)" not in str(err.value)


def test_a_class_without_points_is_not_told_to_lower_meta_per_class_below_zero(tmp_path):
    import numpy as np

    from bayes_dps.data import load_data
    from bayes_dps.errors import DataError

    arrays = good_arrays()
    arrays["y_train"] = np.where(arrays["y_train"] == 1, 0, arrays["y_train"])  # class 1 empty
    np.savez(tmp_path / "gap.npz", **arrays, num_classes=3)
    with pytest.raises(DataError) as err:
        load_data({"name": "npz", "path": str(tmp_path / "gap.npz"), "meta_per_class": 2})
    text = str(err.value)
    assert "class 1 has 0 points" in text and "below 0" not in text
    assert "give it training points" in text


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "is a folder, not a file"),
        (lambda p: p.write_text('{"instruction": "a", "output": NaN}\n'),
         "the literal NaN is not JSON"),
    ],
)  # fmt: skip
def test_an_instruction_file_is_refused_for_its_real_cause(tmp_path, make, message):
    from bayes_dps.data.instructions import load_instruction_file
    from bayes_dps.errors import DataError

    path = tmp_path / "tasks.jsonl"
    make(path)
    with pytest.raises(DataError) as err:
        load_instruction_file(path)
    assert message in str(err.value) and "does not exist" not in str(err.value)


def test_an_empty_noun_file_says_it_holds_no_synsets(tmp_path):
    from bayes_dps.data.wordnet_glosses import load_wordnet_glosses
    from bayes_dps.errors import DataError
    from tests.text_files import write_gloss_wordnet

    folder = write_gloss_wordnet(tmp_path / "dict", {"noun.animal": 4})
    (folder / "data.noun").write_text("  1 This software and database is provided\n")
    with pytest.raises(DataError, match="holds no synsets"):
        load_wordnet_glosses(folder, cache=None)
