"""Corruptions: exact counts, ground truth kept, clean splits untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bayes_dps.data import (
    IndexedDataset,
    load_data,
    long_tail,
    long_tail_counts,
    mix_domains,
    off_domain_copies,
    symmetric_label_noise,
)
from bayes_dps.errors import DataError


def toy(n_per_class=50, k=10):
    y = np.repeat(np.arange(k), n_per_class)
    x = torch.arange(len(y) * 4, dtype=torch.float32).reshape(len(y), 4)
    return IndexedDataset(x, y, num_classes=k)


@pytest.mark.parametrize(("rate", "n"), [(0.2, 500), (0.5, 333), (0.1, 7), (0.0, 10), (1.0, 20)])
def test_symmetric_noise_flips_exactly_round_rN_to_other_classes(rate, n):
    y = np.arange(n) % 10
    ds = IndexedDataset(torch.zeros(n, 2), y, num_classes=10)
    noisy = symmetric_label_noise(ds, rate, seed=1)
    flipped = noisy.targets != y
    assert flipped.sum() == round(rate * n)
    assert np.array_equal(noisy.annotations["true_target"], y)
    assert np.array_equal(noisy.is_noisy, flipped)
    assert np.array_equal(noisy.group_masks("noise")["noisy"], flipped)
    assert noisy.targets.min() >= 0 and noisy.targets.max() < 10


def test_symmetric_noise_is_uniform_over_other_classes():
    ds = IndexedDataset(torch.zeros(20000, 1), np.zeros(20000, int), num_classes=5)
    noisy = symmetric_label_noise(ds, 1.0, seed=0)
    counts = np.bincount(noisy.targets, minlength=5)
    assert counts[0] == 0
    assert np.allclose(counts[1:] / 20000, 0.25, atol=0.015)


def test_noise_rate_out_of_range():
    with pytest.raises(DataError, match=r"\[0, 1\], got 1.5"):
        symmetric_label_noise(toy(), 1.5)


def test_long_tail_exponential_profile_exact():
    ds = toy(n_per_class=100)
    lt = long_tail(ds, 10, seed=0)
    expected = [int(100 * 10 ** (-c / 9)) for c in range(10)]
    assert lt.class_counts().tolist() == expected
    assert expected[0] == 100 and expected[-1] == 10
    # minority flags by class, rows still paired with their original inputs
    assert lt.group_masks("imbalance")["minority"].sum() == sum(
        q for q in expected if q < 100 / np.sqrt(10)
    )
    rows = lt.inputs[:, 0].long() // 4  # original position encoded in the toy inputs
    assert np.array_equal(ds.targets[rows.numpy()], lt.targets)


def test_long_tail_counts_cao_et_al_cifar10():
    assert long_tail_counts(5000, 10, 100) == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert long_tail_counts(100, 10, 10, profile="step") == [10] * 5 + [100] * 5
    with pytest.raises(DataError, match=">= 1"):
        long_tail_counts(10, 10, 0.5)
    with pytest.raises(DataError, match="imbalance_profile"):
        long_tail_counts(10, 10, 2, profile="linear")


def test_domain_mixture_flags_and_keeps_labels():
    ds = toy(n_per_class=10)
    off = off_domain_copies(ds, 30, "permute", seed=0)
    mixed = mix_domains(ds, off)
    assert len(mixed) == 130
    masks = mixed.group_masks("domain")
    assert masks["off_domain"].sum() == 30 and masks["in_domain"][:100].all()
    assert not mixed.is_noisy.any()
    # a fixed permutation: same multiset of values per row, different order
    src = off.inputs
    assert not torch.equal(src, ds.inputs[: len(src)])
    inv = off_domain_copies(ds, 5, "invert", seed=0)
    assert float(inv.inputs.max()) <= float(ds.inputs.max())
    with pytest.raises(DataError, match="permute"):
        off_domain_copies(ds, 5, "rotate")


def test_load_data_never_corrupts_meta_or_test():
    spec = {"name": "digits", "meta_per_class": 10, "noise": 0.5, "imbalance": 5}
    s = load_data(spec)
    assert s.train.is_noisy.sum() == round(0.5 * len(s.train))
    assert not s.meta.is_noisy.any() and not s.test.is_noisy.any()
    assert np.all(s.meta.class_counts() == 10)
    clean = load_data({"name": "digits", "meta_per_class": 10})
    assert torch.equal(s.test.inputs, clean.test.inputs)
    assert np.array_equal(s.test.targets, clean.test.targets)
    assert torch.equal(s.meta.inputs, clean.meta.inputs)
    counts = s.train.class_counts()  # observed labels are noisy; true labels follow the profile
    true_counts = np.bincount(s.train.annotations["true_target"], minlength=10)
    assert true_counts[0] / true_counts[-1] == pytest.approx(5, rel=0.05)
    assert counts.sum() == true_counts.sum()


def test_load_data_domain_mixture():
    s = load_data({"name": "digits", "domain": {"kind": "shuffle", "fraction": 1.0}})
    masks = s.train.group_masks("domain")
    assert masks["off_domain"].sum() == masks["in_domain"].sum()
