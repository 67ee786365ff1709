"""Data layer: index-carrying datasets, loaders, corruptions with ground truth, batch streams."""

from bayes_dps.data.batches import BatchStream, epoch_permutation
from bayes_dps.data.cifar import load_cifar
from bayes_dps.data.corruptions import (
    long_tail,
    long_tail_counts,
    mix_domains,
    off_domain_copies,
    symmetric_label_noise,
)
from bayes_dps.data.dataset import IndexedDataset, check_labels
from bayes_dps.data.digits import load_digits
from bayes_dps.data.imagefolder import load_imagefolder
from bayes_dps.data.mnist import load_mnist
from bayes_dps.data.npz import load_npz
from bayes_dps.data.registry import LOADERS, load_data
from bayes_dps.data.splits import DataSplits, stratified_take

__all__ = [
    "LOADERS",
    "BatchStream",
    "DataSplits",
    "IndexedDataset",
    "check_labels",
    "epoch_permutation",
    "load_cifar",
    "load_data",
    "load_digits",
    "load_imagefolder",
    "load_mnist",
    "load_npz",
    "long_tail",
    "long_tail_counts",
    "mix_domains",
    "off_domain_copies",
    "stratified_take",
    "symmetric_label_noise",
]
