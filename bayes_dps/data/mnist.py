"""MNIST from the standard IDX files (``MNIST/raw/*-ubyte``), read by torchvision."""

from __future__ import annotations

from pathlib import Path

from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.data.splits import DataSplits
from bayes_dps.data.transforms import MNIST_MEAN, MNIST_STD, mnist_transform
from bayes_dps.errors import DatasetNotFoundError

RAW_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def load_mnist(root: str | Path, *, download: bool = False) -> DataSplits:
    """Train (60k) and test (10k) MNIST as 28x28 uint8 images, normalised on access."""
    import torchvision.datasets as tvd

    root = Path(root).expanduser()
    raw = root / "MNIST" / "raw"
    missing = [f for f in RAW_FILES if not (raw / f).is_file()]
    if missing and not download:
        raise DatasetNotFoundError(
            f"mnist: missing {', '.join(missing)} in {raw}. Either pass "
            f"--set dataset.download=true (needs network), or place the four uncompressed IDX "
            f"files from the MNIST distribution in {raw}/."
        )
    splits = {}
    for part, train in (("train", True), ("test", False)):
        try:
            ds = tvd.MNIST(str(root), train=train, download=download)
        except (OSError, RuntimeError) as err:  # no network, unreadable files
            raise DatasetNotFoundError(
                f"mnist: reading or downloading into {raw} failed ({type(err).__name__}: "
                f"{str(err).splitlines()[0][:120]}); place the four IDX files in {raw}/"
            ) from err
        x = ds.data.numpy()  # (N, 28, 28) uint8
        splits[part] = IndexedDataset(
            x,
            ds.targets.numpy(),
            num_classes=10,
            classes=[str(c) for c in range(10)],
            transform=mnist_transform(),
        )
    return DataSplits(
        train=splits["train"],
        test=splits["test"],
        name="mnist",
        normalization=(MNIST_MEAN, MNIST_STD),
    )
