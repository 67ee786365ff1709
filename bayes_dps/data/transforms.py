"""Standard input pipelines (the ones the papers use). torchvision is imported when a
pipeline is built (it takes seconds to import, and vector data never needs it)."""

from __future__ import annotations

from typing import Any

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)


def _T() -> Any:
    import torchvision.transforms as T

    return T


def cifar_transform(train: bool, mean=CIFAR10_MEAN, std=CIFAR10_STD) -> Any:
    """Random crop 32 with 4-pixel zero padding and horizontal flip (train), normalisation.

    Takes HWC ``uint8`` arrays (the CIFAR pickle layout) or PIL images.
    """
    T = _T()
    steps = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] if train else []
    return T.Compose([T.ToTensor(), *steps, T.Normalize(mean, std)])


def imagefolder_transform(train: bool, size: int = 224, resize: int = 256) -> Any:
    """Resize 256, random crop 224 and flip (train) or centre crop (eval), ImageNet statistics."""
    T = _T()
    crop = [T.RandomCrop(size), T.RandomHorizontalFlip()] if train else [T.CenterCrop(size)]
    return T.Compose(
        [T.Resize(resize), *crop, T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    )


def mnist_transform() -> Any:
    T = _T()
    return T.Compose([T.ToTensor(), T.Normalize(MNIST_MEAN, MNIST_STD)])
