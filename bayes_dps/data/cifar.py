"""CIFAR-10 / CIFAR-100 from the standard python pickle batches.

Files are read directly (``cifar-10-batches-py/data_batch_1..5``, ``test_batch``,
``batches.meta``; ``cifar-100-python/train``, ``test``, ``meta``), so any folder in that format
works; ``download=True`` fetches and verifies the official archive through torchvision first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.data.safe_pickle import load_plain
from bayes_dps.data.splits import DataSplits
from bayes_dps.data.transforms import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    cifar_transform,
)
from bayes_dps.errors import DataError, DatasetNotFoundError

SPECS = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "meta": "batches.meta",
        "labels": "labels",
        "names": "label_names",
        "archive": "cifar-10-python.tar.gz",
        "num_classes": 10,
        "stats": (CIFAR10_MEAN, CIFAR10_STD),
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "meta": "meta",
        "labels": "fine_labels",
        "names": "fine_label_names",
        "archive": "cifar-100-python.tar.gz",
        "num_classes": 100,
        "stats": (CIFAR100_MEAN, CIFAR100_STD),
    },
}


def _unpickle(path: Path) -> dict:
    data = load_plain(path)
    if not isinstance(data, dict):
        raise DataError(f"{path} holds a {type(data).__name__}, not a CIFAR batch (a dict)")
    return data


def _download(name: str, root: Path) -> None:
    import torchvision.datasets as tvd

    cls = tvd.CIFAR10 if name == "cifar10" else tvd.CIFAR100
    try:
        cls(str(root), train=True, download=True)
    except (OSError, RuntimeError) as err:  # no network, a failed checksum
        raise DatasetNotFoundError(
            f"{name}: the download into {root} failed ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:120]}); without network, fetch "
            f"{SPECS[name]['archive']} elsewhere and extract it into {root}"
        ) from err


def _read(name: str, root: Path, files: list[str]) -> tuple[np.ndarray, np.ndarray]:
    spec = SPECS[name]
    xs, ys = [], []
    for f in files:
        path = root / spec["folder"] / f
        d = _unpickle(path)
        try:
            xs.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(d[spec["labels"]], dtype=np.int64))
        except (KeyError, ValueError, TypeError) as err:
            raise DataError(
                f"{path} is not a {name} batch: it needs 'data' (N × 3072 bytes) and "
                f"{spec['labels']!r} ({type(err).__name__}: {str(err)[:60]})"
            ) from None
    # HWC uint8, the layout torchvision's ToTensor expects
    return np.concatenate(xs).transpose(0, 2, 3, 1).copy(), np.concatenate(ys)


def load_cifar(name: str, root: str | Path, *, download: bool = False) -> DataSplits:
    """Train and test splits of ``cifar10`` or ``cifar100`` with the standard transforms."""
    spec = SPECS[name]
    root = Path(root).expanduser()
    folder = root / spec["folder"]
    needed = [*spec["train"], *spec["test"], spec["meta"]]
    missing = [f for f in needed if not (folder / f).is_file()]
    if missing and download:
        _download(name, root)
        missing = [f for f in needed if not (folder / f).is_file()]
    if missing:
        raise DatasetNotFoundError(
            f"{name}: missing {', '.join(missing)} in {folder}. Either pass "
            f"--set dataset.download=true (needs network), or download {spec['archive']} from "
            f"https://www.cs.toronto.edu/~kriz/cifar.html and extract it into {root} so that "
            f"{folder}/ holds the pickle batches."
        )
    classes = _unpickle(folder / spec["meta"])[spec["names"]]
    mean, std = spec["stats"]
    x_tr, y_tr = _read(name, root, spec["train"])
    x_te, y_te = _read(name, root, spec["test"])
    k = spec["num_classes"]
    train = IndexedDataset(
        x_tr,
        y_tr,
        num_classes=k,
        classes=classes,
        transform=cifar_transform(True, mean, std),
        eval_transform=cifar_transform(False, mean, std),
    )
    test = IndexedDataset(
        x_te, y_te, num_classes=k, classes=classes, transform=cifar_transform(False, mean, std)
    )
    return DataSplits(train=train, test=test, name=name, normalization=(mean, std))
