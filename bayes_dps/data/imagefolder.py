"""WebVision-style image folders: ``root/train/<class>/…`` and ``root/val/<class>/…``.

Classes are the sub-folders of ``train`` in sorted order; ``num_classes=K`` keeps the first K
(WebVision-100/200 are the first 100/200 of the 1000 WebVision classes).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.data.splits import DataSplits
from bayes_dps.data.transforms import IMAGENET_MEAN, IMAGENET_STD, imagefolder_transform
from bayes_dps.errors import DataError, DatasetNotFoundError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def load_rgb(path: str) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB")


def _scan(folder: Path, classes: list[str]) -> tuple[list[str], list[int]]:
    paths, labels = [], []
    for label, name in enumerate(classes):
        class_dir = folder / name
        if not class_dir.is_dir():
            continue
        for f in sorted(class_dir.rglob("*")):
            if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file():
                paths.append(str(f))
                labels.append(label)
    return paths, labels


def load_imagefolder(
    root: str | Path, *, num_classes: int | None = None, image_size: int = 224
) -> DataSplits:
    """Train / test splits from an image-folder tree; ``val`` is used as the test set."""
    root = Path(root).expanduser()
    train_dir, val_dir = root / "train", root / "val"
    for d in (train_dir, val_dir):
        if not d.is_dir():
            raise DatasetNotFoundError(
                f"imagefolder: {d} does not exist. Expected {root}/train/<class>/<image> and "
                f"{root}/val/<class>/<image> (see docs/guide/data.md)."
            )
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if not classes:
        raise DatasetNotFoundError(f"imagefolder: no class folders in {train_dir}")
    if num_classes is not None:
        if not 1 <= num_classes <= len(classes):
            raise DataError(
                f"dataset.num_classes={num_classes} but {train_dir} has {len(classes)} classes"
            )
        classes = classes[:num_classes]
    resize = max(image_size, round(image_size * 256 / 224))
    out = {}
    for part, folder, train in (("train", train_dir, True), ("test", val_dir, False)):
        paths, labels = _scan(folder, classes)
        if not paths:
            raise DatasetNotFoundError(f"imagefolder: no images of the chosen classes in {folder}")
        out[part] = IndexedDataset(
            paths,
            labels,
            num_classes=len(classes),
            classes=classes,
            loader=load_rgb,
            transform=imagefolder_transform(train, size=image_size, resize=resize),
            eval_transform=imagefolder_transform(False, size=image_size, resize=resize),
        )
    return DataSplits(
        train=out["train"],
        test=out["test"],
        name="imagefolder",
        normalization=(IMAGENET_MEAN, IMAGENET_STD),
    )
