"""Networks with ``features`` + linear ``head`` (and, with their issues, the Pyro models)."""

from bayes_dps.models.base import FeatureHeadModel
from bayes_dps.models.last_layer_predictive import last_layer_predictive_model
from bayes_dps.models.lenet import LeNet5
from bayes_dps.models.likelihoods import (
    LIKELIHOODS,
    CausalLM,
    Classification,
    Likelihood,
    LogLik,
    Seq2Seq,
    build_likelihood,
)
from bayes_dps.models.mlp import MLP
from bayes_dps.models.registry import MODELS, auto_model_name, build_model
from bayes_dps.models.resnet_cifar import ResNet18CIFAR, ResNet32
from bayes_dps.models.resnet_imagenet import ResNet18ImageNet

__all__ = [
    "LIKELIHOODS",
    "MLP",
    "MODELS",
    "CausalLM",
    "Classification",
    "FeatureHeadModel",
    "LeNet5",
    "Likelihood",
    "LogLik",
    "ResNet18CIFAR",
    "ResNet18ImageNet",
    "ResNet32",
    "Seq2Seq",
    "auto_model_name",
    "build_likelihood",
    "build_model",
    "last_layer_predictive_model",
]
