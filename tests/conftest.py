"""Shared fixtures: small data files written in the real on-disk formats.

The suite runs PyTorch on one CPU thread (and tells subprocesses to do the same): its models
are small, and on a shared 2-core machine a thread pool made them many times slower."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

torch.set_num_threads(1)


def write_cifar10(root: Path, n_per_batch: int = 20, n_test: int = 30, seed: int = 0) -> Path:
    """The python-pickle layout of cifar-10-python.tar.gz, tiny."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = n_test if name == "test_batch" else n_per_batch
        batch = {
            "batch_label": name,
            "data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            "labels": [int(v) for v in rng.integers(0, 10, size=n)],
            "filenames": [f"img{i}.png" for i in range(n)],
        }
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)
    meta = {"label_names": [f"class{c}" for c in range(10)], "num_cases_per_batch": n_per_batch}
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump(meta, fh, protocol=2)
    return root


def write_cifar100(root: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, n in (("train", n_train), ("test", n_test)):
        batch = {
            "data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            "fine_labels": [int(v) for v in rng.integers(0, 100, size=n)],
            "coarse_labels": [int(v) for v in rng.integers(0, 20, size=n)],
        }
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)
    with open(folder / "meta", "wb") as fh:
        pickle.dump({"fine_label_names": [f"c{c}" for c in range(100)]}, fh, protocol=2)
    return root


def write_mnist(
    root: Path, n_train: int = 40, n_test: int = 20, seed: int = 0, balanced: bool = False
) -> Path:
    """Uncompressed IDX files as in the MNIST distribution (``balanced``: labels cycle 0..9)."""
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10 if balanced else rng.integers(0, 10, size=n)).astype(np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes()
        )
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">II", 0x801, n) + labels.tobytes()
        )
    return root


def write_imagefolder(root: Path, classes=("cat", "dog", "fox"), per_class=4, size=12) -> Path:
    rng = np.random.default_rng(0)
    for part in ("train", "val"):
        for c in classes:
            d = root / part / c
            d.mkdir(parents=True)
            for i in range(per_class):
                arr = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
                Image.fromarray(arr).save(d / f"{i}.png")
    return root


def write_npz(path: Path, *, n_train=120, n_test=40, d=6, k=3, meta=False, seed=0, **extra):
    """A linearly separable-ish vector task in the bring-your-own layout."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(k, d))

    def sample(n):
        y = rng.integers(0, k, size=n)
        return (centers[y] + rng.normal(0, 1, size=(n, d))).astype(np.float32), y

    arrays = {}
    for part, n in (("train", n_train), ("test", n_test)) + ((("meta", 30),) if meta else ()):
        arrays[f"x_{part}"], arrays[f"y_{part}"] = sample(n)
    arrays.update(extra)
    np.savez(path, **arrays)
    return path


@pytest.fixture
def npz_file(tmp_path: Path) -> Path:
    return write_npz(tmp_path / "data.npz")


@pytest.fixture
def digits_config() -> dict:
    """A fast online config on digits (CPU, no progress bars, no checkpoints)."""
    from bayes_dps.config import ONLINE_DEFAULTS, load_config

    cfg = load_config(None, [], ONLINE_DEFAULTS)
    cfg.update(
        name="test",
        model="mlp",
        model_options={"hidden": [32]},
        epochs=3,
        n_B=64,
        n_b=16,
        targets=[0.5],
        device="cpu",
        progress=False,
        checkpoint=False,
    )
    cfg["dataset"]["meta_per_class"] = 5
    return cfg


TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="session")
def tiny_clip_arch(tmp_path_factory) -> str:
    """Register a tiny open_clip architecture (random weights) and return its name."""
    import json

    import open_clip

    folder = tmp_path_factory.mktemp("clip_configs")
    (folder / "tiny-test-clip.json").write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(folder)
    return "tiny-test-clip"


def write_cifar_balanced(root: Path, name: str, per_class: int, test_per_class: int = 1) -> Path:
    """CIFAR-10/100 pickle layout with exactly ``per_class`` training images per class."""
    k = 10 if name == "cifar10" else 100
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(k), per_class)
    test_labels = np.repeat(np.arange(k), test_per_class)
    label_key = "labels" if k == 10 else "fine_labels"
    folder = root / ("cifar-10-batches-py" if k == 10 else "cifar-100-python")
    folder.mkdir(parents=True)
    if k == 10:
        parts = {f"data_batch_{i + 1}": chunk for i, chunk in enumerate(np.array_split(labels, 5))}
        parts["test_batch"] = test_labels
        meta_name, meta = "batches.meta", {"label_names": [f"class{c}" for c in range(k)]}
    else:
        parts = {"train": labels, "test": test_labels}
        meta_name, meta = "meta", {"fine_label_names": [f"class{c}" for c in range(k)]}
    for fname, ys in parts.items():
        data = rng.integers(0, 256, size=(len(ys), 3072), dtype=np.uint8)
        with open(folder / fname, "wb") as fh:
            pickle.dump({"data": data, label_key: ys.tolist()}, fh, protocol=2)
    with open(folder / meta_name, "wb") as fh:
        pickle.dump(meta, fh, protocol=2)
    return root
