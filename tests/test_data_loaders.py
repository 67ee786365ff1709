"""Each loader on small files written in the real format."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bayes_dps.data import (
    load_cifar,
    load_data,
    load_digits,
    load_imagefolder,
    load_mnist,
    load_npz,
)
from bayes_dps.errors import ConfigError, DataError, DatasetNotFoundError
from tests.conftest import write_cifar10, write_cifar100, write_imagefolder, write_mnist, write_npz


def test_digits_split_is_stratified_disjoint_and_complete():
    s = load_digits(test_fraction=0.25, meta_per_class=10, seed=3)
    assert len(s.train) + len(s.meta) + len(s.test) == 1797
    assert np.all(s.meta.class_counts() == 10)
    test_counts = s.test.class_counts()
    assert test_counts.sum() == 450 and test_counts.min() >= 44  # ~25% of ~180 per class
    rows = {
        (*x.tolist(), y)
        for part in (s.train, s.meta, s.test)
        for x, y in zip(part.inputs, part.targets, strict=True)
    }
    assert len(rows) > 1700  # (few digits images are exact duplicates)
    assert s.input_shape == (64,)
    assert float(s.train.inputs.max()) <= 1.0


def test_digits_as_images_and_seeded():
    a = load_digits(seed=1, as_images=True, meta_per_class=0)
    b = load_digits(seed=1, as_images=True, meta_per_class=0)
    c = load_digits(seed=2, as_images=True, meta_per_class=0)
    assert a.meta is None and a.input_shape == (1, 8, 8)
    assert torch.equal(a.train.inputs, b.train.inputs)
    assert not torch.equal(a.train.inputs, c.train.inputs)


def test_items_carry_their_index():
    s = load_digits(meta_per_class=0)
    x, y, i = s.train[17]
    assert i == 17 and y == s.train.targets[17] and torch.equal(x, s.train.inputs[17])


def test_cifar10_pickle_batches(tmp_path):
    write_cifar10(tmp_path)
    s = load_cifar("cifar10", tmp_path)
    assert len(s.train) == 100 and len(s.test) == 30
    assert s.classes[3] == "class3"
    x, _, i = s.train[5]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and i == 5
    # the stored layout is CHW rows of 3072 bytes; check the first pixel survived the transpose
    xt, _, _ = s.test[0]
    raw = s.test.inputs[0]  # HWC uint8
    mean, std = 0.4914, 0.2470
    assert xt[0, 0, 0].item() == pytest.approx((raw[0, 0, 0] / 255 - mean) / std, abs=1e-5)


def test_cifar100_pickle(tmp_path):
    write_cifar100(tmp_path)
    s = load_cifar("cifar100", tmp_path)
    assert s.num_classes == 100 and len(s.train) == 60 and s.classes[7] == "c7"


def test_cifar_missing_files_say_where_and_how(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load_cifar("cifar10", tmp_path)
    msg = str(err.value)
    assert "cifar-10-batches-py" in msg and "download=true" in msg and str(tmp_path) in msg


def test_mnist_idx_files(tmp_path):
    write_mnist(tmp_path)
    s = load_mnist(tmp_path)
    assert len(s.train) == 40 and len(s.test) == 20
    x, _, _ = s.train[0]
    assert x.shape == (1, 28, 28)
    with pytest.raises(DatasetNotFoundError, match="IDX"):
        load_mnist(tmp_path / "elsewhere")


def test_imagefolder_first_k_classes(tmp_path):
    write_imagefolder(tmp_path)
    s = load_imagefolder(tmp_path, num_classes=2, image_size=8)
    assert s.classes == ["cat", "dog"]
    assert len(s.train) == 8 and len(s.test) == 8
    x, y, i = s.train[6]
    assert x.shape == (3, 8, 8) and y == 1 and i == 6
    full = load_imagefolder(tmp_path, image_size=8)
    assert full.num_classes == 3
    with pytest.raises(DataError, match="num_classes=5"):
        load_imagefolder(tmp_path, num_classes=5)
    with pytest.raises(DatasetNotFoundError, match="train"):
        load_imagefolder(tmp_path / "nope")


def test_npz_with_and_without_meta(tmp_path):
    plain = load_npz(write_npz(tmp_path / "a.npz"))
    assert plain.meta is None and plain.num_classes == 3 and plain.input_shape == (6,)
    with_meta = load_npz(write_npz(tmp_path / "b.npz", meta=True))
    assert len(with_meta.meta) == 30
    images = tmp_path / "c.npz"
    np.savez(
        images,
        x_train=np.zeros((10, 1, 4, 4), np.uint8) + 255,
        y_train=np.arange(10) % 2,
        x_test=np.zeros((4, 1, 4, 4), np.uint8),
        y_test=np.array([0, 1, 0, 1]),
    )
    s = load_npz(images)
    assert s.input_shape == (1, 4, 4) and float(s.train.inputs.max()) == 1.0


def test_npz_meta_from_train_via_meta_per_class(tmp_path):
    path = write_npz(tmp_path / "a.npz")
    s = load_data({"name": "npz", "path": str(path), "meta_per_class": 4})
    assert len(s.meta) == 12 and len(s.train) == 108


@pytest.mark.parametrize(
    ("labels", "match"),
    [(np.array([0, 1, 5]), r"\[0, 3\)"), (np.array([0, -1, 2]), "found -1")],
)
def test_npz_labels_out_of_range(tmp_path, labels, match):
    path = tmp_path / "bad.npz"
    np.savez(
        path,
        x_train=np.zeros((3, 2), np.float32),
        y_train=labels,
        x_test=np.zeros((3, 2), np.float32),
        y_test=np.array([0, 1, 2]),
        num_classes=3,
    )
    with pytest.raises(DataError, match=match):
        load_npz(path)


def test_npz_missing_arrays_and_file(tmp_path):
    path = tmp_path / "partial.npz"
    np.savez(path, x_train=np.zeros((3, 2)), y_train=np.zeros(3, int))
    with pytest.raises(DataError, match="x_test, y_test"):
        load_npz(path)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load_npz(tmp_path / "absent.npz")


def test_unknown_dataset_and_missing_path():
    with pytest.raises(ConfigError, match=r"unknown dataset\.name 'cifar11'.*cifar10"):
        load_data({"name": "cifar11"})
    with pytest.raises(ConfigError, match=r"dataset\.path"):
        load_data({"name": "npz"})


def test_annotations_of_the_wrong_length_are_refused_by_image_and_text_datasets():
    from bayes_dps.data.dataset import IndexedDataset
    from bayes_dps.data.text import TextDataset, TextExample

    with pytest.raises(DataError, match="annotation 'noisy' has length 3, dataset has 5"):
        IndexedDataset(
            torch.zeros(5, 2), np.zeros(5, int), num_classes=2, annotations={"noisy": [0, 0, 0]}
        )
    examples = [TextExample("q", "a", "g")] * 4
    ids = torch.zeros(4, 3, dtype=torch.long)
    with pytest.raises(DataError, match="annotation 'group' has length 2, dataset has 4"):
        TextDataset(ids, ids, examples, annotations={"group": np.array(["g", "g"])})
    data = TextDataset(ids, ids, examples)
    assert list(data.annotations["group"]) == ["g"] * 4 and not data.annotations["noisy"].any()
