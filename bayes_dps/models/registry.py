"""``build_model(name, input_shape, num_classes)`` and the ``auto`` choice."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from bayes_dps.errors import ConfigError
from bayes_dps.models.base import FeatureHeadModel
from bayes_dps.models.hashbag import HashBag
from bayes_dps.models.lenet import LeNet5
from bayes_dps.models.mlp import MLP
from bayes_dps.models.resnet_cifar import ResNet18CIFAR, ResNet32
from bayes_dps.models.resnet_imagenet import ResNet18ImageNet

Builder = Callable[..., FeatureHeadModel]

MODELS: dict[str, Builder] = {
    "mlp": lambda shape, k, **kw: MLP(math.prod(shape), k, **kw),
    "lenet5": lambda shape, k, **kw: LeNet5(k, in_channels=shape[0], image_size=shape[-1], **kw),
    "resnet18": lambda shape, k, **kw: ResNet18CIFAR(k, in_channels=shape[0], **kw),
    "resnet32": lambda shape, k, **kw: ResNet32(k, in_channels=shape[0], **kw),
    "resnet18_imagenet": lambda shape, k, **kw: ResNet18ImageNet(k, **kw),
    "hashbag": lambda shape, k, **kw: HashBag(k, **kw),
}
#: networks for (C, H, W) images
IMAGE_MODELS = ("lenet5", "resnet18", "resnet32", "resnet18_imagenet")


def auto_model_name(input_shape: Sequence[int]) -> str:
    """Vectors and images under 28 px → ``mlp``; grey images → ``lenet5``; colour images up to
    64 px → ``resnet18`` (CIFAR variant); larger → ``resnet18_imagenet``."""
    if len(input_shape) == 1 or min(input_shape[-2:]) < 28:
        return "mlp"
    if input_shape[0] == 1:
        return "lenet5"
    return "resnet18" if max(input_shape[-2:]) <= 64 else "resnet18_imagenet"


def build_model(
    name: str,
    input_shape: Sequence[int],
    num_classes: int,
    options: dict[str, Any] | None = None,
) -> FeatureHeadModel:
    """Instantiate network ``name`` (or ``auto``) for inputs of ``input_shape``."""
    if name == "auto":
        name = auto_model_name(input_shape)
    if name not in MODELS:
        raise ConfigError(
            f"unknown model {name!r}; choose one of auto, {', '.join(sorted(MODELS))}"
        )
    if name in IMAGE_MODELS and len(input_shape) != 3:
        raise ConfigError(
            f"model {name!r} needs (C, H, W) image inputs, got input shape {tuple(input_shape)}; "
            "use model: mlp for vectors"
        )
    try:
        return MODELS[name](tuple(input_shape), num_classes, **(options or {}))
    except TypeError as err:
        raise ConfigError(f"bad model_options for {name!r}: {err}") from err
