"""torchvision's ResNet-18 for 224px images (WebVision), split into features and head."""

from __future__ import annotations

import torch
from torch import nn

from bayes_dps.errors import DataError
from bayes_dps.input_files import read_state_dict
from bayes_dps.models.base import FeatureHeadModel


class ResNet18ImageNet(FeatureHeadModel):
    """torchvision ``resnet18`` with its ``fc`` as the head.

    ``checkpoint`` loads backbone weights from a local file (a torchvision state dict); the
    head is always new, sized ``num_classes``.
    """

    def __init__(self, num_classes: int, checkpoint: str | None = None) -> None:
        super().__init__()
        import torchvision  # imported on use: it takes seconds to import

        net = torchvision.models.resnet18(weights=None)
        if checkpoint:
            fix = "set model_options.checkpoint to a torchvision resnet18 state dict"
            state = read_state_dict(checkpoint, "model checkpoint", fix)
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}
            try:
                net.load_state_dict(state, strict=False)
            except RuntimeError as err:  # tensors of other shapes
                raise DataError(
                    f"model checkpoint {checkpoint} does not fit resnet18 "
                    f"({str(err).splitlines()[-1].strip()[:120]}); {fix}"
                ) from None
        self.backbone = nn.Sequential(*(list(net.children())[:-1]))
        self.head = nn.Linear(net.fc.in_features, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.backbone(x), 1)
