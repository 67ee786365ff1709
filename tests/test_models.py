"""Networks: output and feature shapes, features + linear head decomposition."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bayes_dps.errors import ConfigError
from bayes_dps.models import auto_model_name, build_model


@pytest.mark.parametrize(
    ("name", "shape", "feature_dim"),
    [
        ("mlp", (64,), 256),
        ("mlp", (1, 8, 8), 256),
        ("lenet5", (1, 28, 28), 84),
        ("lenet5", (3, 32, 32), 84),
        ("resnet18", (3, 32, 32), 512),
        ("resnet32", (3, 32, 32), 64),
        ("resnet18_imagenet", (3, 64, 64), 512),
    ],
)
def test_shapes_and_head(name, shape, feature_dim):
    torch.manual_seed(0)
    model = build_model(name, shape, 7).eval()
    x = torch.randn(3, *shape)
    logits, feats = model.forward_with_features(x)
    assert logits.shape == (3, 7) and feats.shape == (3, feature_dim)
    assert isinstance(model.head, nn.Linear) and model.feature_dim == feature_dim
    assert torch.allclose(model(x), model.head(model.features(x)), atol=1e-6)
    assert torch.allclose(logits, feats @ model.head.weight.T + model.head.bias, atol=1e-5)


def test_resnet32_size_matches_he_et_al():
    n = sum(p.numel() for p in build_model("resnet32", (3, 32, 32), 10).parameters())
    assert 0.45e6 < n < 0.48e6  # "0.46M" in He et al. (2016), Table 6


def test_auto_choice():
    assert auto_model_name((64,)) == "mlp"
    assert auto_model_name((1, 8, 8)) == "mlp"
    assert auto_model_name((1, 28, 28)) == "lenet5"
    assert auto_model_name((3, 32, 32)) == "resnet18"
    assert auto_model_name((3, 224, 224)) == "resnet18_imagenet"


def test_model_errors():
    with pytest.raises(ConfigError, match="unknown model 'resnet19'"):
        build_model("resnet19", (3, 32, 32), 10)
    with pytest.raises(ConfigError, match="image inputs"):
        build_model("resnet18", (64,), 10)
    with pytest.raises(ConfigError, match="28x28"):
        build_model("lenet5", (1, 8, 8), 10)
    with pytest.raises(ConfigError, match="model_options"):
        build_model("mlp", (4,), 2, {"depth": 3})
