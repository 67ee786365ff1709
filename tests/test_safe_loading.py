"""Loading that runs no code, and checkpoints that are verified before they are trusted.

* A checkpoint carrying a pickled payload (``os.system`` in ``__reduce__``) — even with a
  matching content hash, as someone who rigged a shared run folder would leave it — is
  refused, the payload never runs, and ``--resume`` ends in one ``error:`` line naming it.
* A CIFAR batch with a payload is refused the same way; a genuine one still loads.
* One flipped byte in a checkpoint is caught by its hash: the previous checkpoint is used, with
  a warning, and the resumed run gives the uninterrupted run's results.
"""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch
from conftest import write_cifar10
from helpers import FAST, without_timings

from bayes_dps.cli import main
from bayes_dps.data import load_cifar
from bayes_dps.errors import DataError
from bayes_dps.training.checkpoint import (
    CheckpointError,
    digest_path,
    load_checkpoint,
    save_checkpoint,
    sha256,
)


class Payload:
    """Unpickling this runs ``touch MARKER``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_rigged_checkpoint_runs_no_code(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "c.pt"
    torch.save({"epoch": 1, "x": Payload(marker)}, path)
    digest_path(path).write_text(sha256(path))  # a matching hash: only the content is evil
    with pytest.raises(CheckpointError, match=r"no reason to hold.*GLOBAL posix\.system"):
        load_checkpoint(path)
    assert not marker.exists()
    # the same file loaded the unsafe way would run it (the test's own check)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_a_flipped_byte_is_caught_and_the_previous_checkpoint_used(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"epoch": 1, "w": torch.arange(100.0)})
    save_checkpoint(path, {"epoch": 2, "w": torch.arange(100.0) * 2})
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="does not match its content hash"):
        assert load_checkpoint(path)["epoch"] == 1
    digest_path(path.with_name("c.pt.prev")).write_text("0" * 64)  # and the previous one too
    with pytest.raises(CheckpointError, match=r"c\.pt\.prev.*content hash.*delete these files"):
        load_checkpoint(path)


def test_a_checkpoint_without_its_hash_is_not_trusted(tmp_path):
    path = tmp_path / "c.pt"
    torch.save({"epoch": 1}, path)
    with pytest.raises(CheckpointError, match="no content hash"):
        load_checkpoint(path)


ONLINE = ["online", "--config", "digits_noisy", "--quiet", "--set", "device=cpu",
          "--set", "methods=[uniform]", "--set", "seeds=[0]", "--set", "epochs=3",
          "--set", "model_options={hidden: [16]}"]  # fmt: skip


def test_resume_refuses_a_rigged_checkpoint_with_one_error_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*ONLINE, "--out", str(out), "--set", "seeds=[1]"]) == 0
    marker = tmp_path / "PWNED"
    ckpt = out / "checkpoints" / "uniform_seed0.pt"
    ckpt.parent.mkdir(exist_ok=True)
    torch.save({"epoch": 1, "x": Payload(marker)}, ckpt)
    digest_path(ckpt).write_text(sha256(ckpt))
    capsys.readouterr()
    assert main([*ONLINE, "--out", str(out), "--set", "seeds=[1, 0]", "--resume", "--extend"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error:") and "uniform_seed0.pt" in err[0], err
    assert not marker.exists()


def test_a_flipped_byte_in_a_killed_runs_checkpoint_resumes_from_the_previous(
    tmp_path, monkeypatch
):
    """A run killed in its third epoch left checkpoints after epochs 1 (``.prev``) and 2; the
    newest is then damaged. The resume warns, falls back to epoch 1 and still ends with the
    uninterrupted run's numbers."""
    from bayes_dps.methods.online import loop

    ref, cut = tmp_path / "ref", tmp_path / "cut"
    assert main([*ONLINE, "--out", str(ref)]) == 0
    original = loop.OnlineSelectionEpoch.run_epoch

    def dying(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return original(self, epoch)

    monkeypatch.setattr(loop.OnlineSelectionEpoch, "run_epoch", dying)
    assert main([*ONLINE, "--out", str(cut)]) == 130
    monkeypatch.setattr(loop.OnlineSelectionEpoch, "run_epoch", original)
    ckpt = cut / "checkpoints" / "uniform_seed0.pt"
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 3] ^= 0x10
    ckpt.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="does not match its content hash"):
        assert main([*ONLINE, "--out", str(cut), "--resume"]) == 0
    got = without_timings(json.loads((cut / "results.json").read_text()))
    want = without_timings(json.loads((ref / "results.json").read_text()))
    assert got["methods"] == want["methods"]


def test_a_rigged_cifar_batch_runs_no_code(tmp_path):
    root = write_cifar10(tmp_path / "data")
    assert len(load_cifar("cifar10", root).train) == 100  # the genuine layout loads
    marker = tmp_path / "PWNED"
    batch = root / "cifar-10-batches-py" / "data_batch_1"
    with open(batch, "wb") as fh:
        pickle.dump({"data": np.zeros((2, 3072), np.uint8), "labels": Payload(marker)}, fh)
    with pytest.raises(DataError, match=r"data_batch_1 refers to posix\.system"):
        load_cifar("cifar10", root)
    assert not marker.exists()


def test_a_truncated_cifar_batch_is_a_data_error(tmp_path):
    root = write_cifar10(tmp_path / "data")
    batch = root / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(batch.read_bytes()[:100])
    with pytest.raises(DataError, match="test_batch is not a readable data pickle"):
        load_cifar("cifar10", root)


def test_the_cli_reports_a_rigged_batch_in_one_line(tmp_path, capsys):
    root = write_cifar10(tmp_path / "data")
    with open(root / "cifar-10-batches-py" / "data_batch_2", "wb") as fh:
        pickle.dump({"data": Payload(tmp_path / "PWNED")}, fh)
    args = ["online", "--config", "cifar10_noisy", *FAST, "--set", f"dataset.path={root}",
            "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data_batch_2 refers to posix.system" in err[0]
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "out").exists()
