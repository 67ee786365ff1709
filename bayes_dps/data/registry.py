"""``load_data(spec)``: a dataset spec (the ``dataset`` block of a config) → :class:`DataSplits`.

Order of operations: load → hold out ``meta_per_class`` clean points per class, or a
stratified ``meta_fraction`` of train (unless the source ships a meta split) → add off-domain
points → long-tail → label noise. The meta and test splits are never corrupted. All randomness
comes from ``spec["seed"]``, so every method and model seed of an experiment sees the same data.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from bayes_dps.data.cifar import load_cifar
from bayes_dps.data.corruptions import (
    long_tail,
    mix_domains,
    off_domain_copies,
    symmetric_label_noise,
)
from bayes_dps.data.digits import load_digits
from bayes_dps.data.imagefolder import load_imagefolder
from bayes_dps.data.mnist import load_mnist
from bayes_dps.data.mnist5k import load_mnist5k
from bayes_dps.data.npz import load_npz
from bayes_dps.data.splits import DataSplits, stratified_fraction, stratified_take
from bayes_dps.data.wordnet_glosses import load_wordnet_glosses
from bayes_dps.errors import ConfigError, DataError

DEFAULT_ROOT = "~/.cache/bayes_dps/data"


def _need_path(spec: dict[str, Any]) -> str:
    path = spec.get("path")
    if not path:
        raise ConfigError(
            f"dataset {spec['name']!r} needs dataset.path (a file or folder); "
            "pass --set dataset.path=..."
        )
    return str(path)


LOADERS: dict[str, Callable[[dict[str, Any]], DataSplits]] = {
    "digits": lambda s: load_digits(
        test_fraction=s.get("test_fraction", 0.25),
        meta_per_class=s.get("meta_per_class", 0),
        seed=s.get("seed", 0),
        as_images=s.get("as_images", False),
    ),
    "cifar10": lambda s: load_cifar(
        "cifar10", s.get("path") or DEFAULT_ROOT, download=s.get("download", False)
    ),
    "cifar100": lambda s: load_cifar(
        "cifar100", s.get("path") or DEFAULT_ROOT, download=s.get("download", False)
    ),
    "mnist": lambda s: load_mnist(s.get("path") or DEFAULT_ROOT, download=s.get("download", False)),
    "mnist5k": lambda s: load_mnist5k(
        test_fraction=s.get("test_fraction", 0.25),
        train_size=s.get("train_size"),
        off_domain=s.get("off_domain"),
        off_domain_size=s.get("off_domain_size"),
        seed=s.get("seed", 0),
    ),
    "imagefolder": lambda s: load_imagefolder(
        _need_path(s), num_classes=s.get("num_classes"), image_size=s.get("image_size", 224)
    ),
    "npz": lambda s: load_npz(_need_path(s), num_classes=s.get("num_classes")),
    "wordnet_glosses": lambda s: load_wordnet_glosses(
        s.get("path"),
        buckets=s.get("buckets", 2**15),
        max_words=s.get("max_words", 16),
        train_size=s.get("train_size"),
        off_domain=s.get("off_domain"),
        off_domain_size=s.get("off_domain_size"),
        seed=s.get("seed", 0),
        cache=s.get("cache", DEFAULT_ROOT),
    ),
}


def load_data(spec: dict[str, Any]) -> DataSplits:
    """Load, split and corrupt the dataset described by ``spec`` (see module docstring)."""
    name = spec.get("name")
    if name not in LOADERS:
        raise ConfigError(
            f"unknown dataset.name {name!r}; choose one of {', '.join(sorted(LOADERS))}"
        )
    seed = int(spec.get("seed", 0))
    splits = LOADERS[name](spec)
    meta_per_class = int(spec.get("meta_per_class") or 0)
    meta_fraction = float(spec.get("meta_fraction") or 0.0)
    if meta_per_class and meta_fraction:
        raise ConfigError(
            "set either dataset.meta_per_class or dataset.meta_fraction, not both "
            f"(got {meta_per_class} and {meta_fraction})"
        )
    if splits.meta is None and (meta_per_class or meta_fraction):
        rng = np.random.default_rng(seed)
        # the curated set is in-domain: off-domain points a loader added stay in D_t
        eligible = np.flatnonzero(~splits.train.annotations["off_domain"].astype(bool))
        targets, k = splits.train.targets[eligible], splits.num_classes
        meta_rel, _ = (
            stratified_take(targets, meta_per_class, rng, k)
            if meta_per_class
            else stratified_fraction(targets, meta_fraction, rng, k)
        )
        meta_idx = eligible[meta_rel]
        splits.meta = splits.train.subset(meta_idx)
        splits.train = splits.train.subset(np.setdiff1d(np.arange(len(splits.train)), meta_idx))

    train = splits.train
    domain = spec.get("domain")
    if domain:
        if not isinstance(domain, dict) or "kind" not in domain:
            raise ConfigError(
                f"dataset.domain must be a mapping like {{kind: permute, fraction: 1.0}}, "
                f"got {domain!r}"
            )
        size = round(float(domain.get("fraction", 1.0)) * len(train))
        train = mix_domains(train, off_domain_copies(train, size, domain["kind"], seed=seed + 1))
        splits.notes.append(
            f"corruption (dataset.domain): {size} off-domain copies ({domain['kind']}) added "
            "to the training set"
        )
    ratio = float(spec.get("imbalance") or 1.0)
    if ratio != 1.0:
        train = long_tail(train, ratio, seed=seed + 2, profile=spec.get("imbalance_profile", "exp"))
        splits.notes.append(
            f"corruption (dataset.imbalance): training classes subsampled to a long tail of "
            f"ratio {ratio:g}"
        )
    rate = float(spec.get("noise") or 0.0)
    if rate > 0:
        train = symmetric_label_noise(train, rate, seed=seed + 3)
        splits.notes.append(
            f"corruption (dataset.noise): {rate:.0%} of the training labels flipped; set "
            "dataset.noise=0 to train on the labels as given"
        )
    splits.train = train
    if spec.get("evaluate_on", "test") == "val":
        if splits.val is None:
            raise ConfigError(
                f"dataset {name!r} has no validation split; dataset.evaluate_on=val needs one "
                "(wordnet_glosses has)"
            )
        splits.test = splits.val
        splits.notes.append(
            "dataset.evaluate_on=val: every reported metric is on the validation split (for "
            "tuning); the test split is not touched"
        )
    check_classes_present(splits)
    return splits


def check_classes_present(splits: DataSplits) -> None:
    """A training set of one class is an error; classes without any training example (a lone
    label 57 makes 58 classes) are a warning naming them."""
    counts = splits.train.class_counts()
    present = np.flatnonzero(counts)
    if len(present) < 2:
        raise DataError(
            f"the training set has {len(present)} class(es) ({present.tolist()}); "
            "classification needs at least 2 — check y_train"
        )
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        shown = ", ".join(map(str, empty[:10])) + (" …" if len(empty) > 10 else "")
        warnings.warn(
            f"{len(empty)} of {splits.num_classes} classes have no training examples "
            f"({shown}); the class count comes from the largest label or dataset.num_classes "
            "— relabel the classes to 0..k-1 if this is unintended",
            UserWarning,
            stacklevel=2,
        )


# --------------------------------------------------------------------- text data
TEXT_DATASETS = ("wordnet", "webnlg", "instructions")


def _instruction_sources(spec: dict[str, Any]) -> list:
    """``sources``: ``wordnet:<task>``, ``chatterbot:<category>`` or a JSON/JSONL file path."""
    from bayes_dps.data.instructions import load_chatterbot, load_instruction_file
    from bayes_dps.data.wordnet import INSTRUCTION_TASKS, instruction_tasks, load_wordnet

    sources = spec.get("sources") or []
    if not sources:
        raise ConfigError(
            "dataset.sources lists no instruction sources; e.g. [wordnet:define, "
            "wordnet:hypernym, chatterbot:science, my_task.jsonl]"
        )
    out, wordnet = [], None
    for src in sources:
        kind, _, arg = str(src).partition(":")
        if kind == "wordnet":
            if arg not in INSTRUCTION_TASKS:
                raise ConfigError(f"wordnet task {arg!r} unknown; choose from {INSTRUCTION_TASKS}")
            wordnet = wordnet or load_wordnet(spec.get("path"))
            out += instruction_tasks(wordnet, (arg,))
        elif kind == "chatterbot":
            out += load_chatterbot(categories=[arg] if arg else None)
        else:
            out += load_instruction_file(src)
    return out


def load_text_data(spec: dict[str, Any]):
    """Raw text splits of a language scenario (``data.text_scenarios``) from the ``dataset``
    block: ``wordnet`` / ``webnlg`` (efficient learning) or ``instructions`` (instruction
    tuning with one corrupted task)."""
    from bayes_dps.data.text_scenarios import efficient_learning, instruction_mixture

    name, seed = spec.get("name"), int(spec.get("seed", 0))
    if name == "instructions":
        return instruction_mixture(
            _instruction_sources(spec), per_task=spec["per_task"],
            meta_per_task=spec["meta_per_class"], test_per_task=spec["test_per_task"],
            val_per_task=spec["val_per_task"], corrupt_task=spec.get("corrupt_task"), seed=seed,
            name="instructions",
        )  # fmt: skip
    if name == "wordnet":
        from bayes_dps.data.wordnet import data_to_text, load_wordnet

        examples = data_to_text(load_wordnet(spec.get("path")))
    elif name == "webnlg":
        from bayes_dps.data.webnlg import load_webnlg

        examples = load_webnlg(_need_path(spec))
    else:
        raise ConfigError(f"{name!r} is not a text dataset; choose from {TEXT_DATASETS}")
    if not spec.get("target_domain"):
        raise ConfigError(f"dataset {name}: set dataset.target_domain (the domain to learn)")
    return efficient_learning(
        examples, target=spec["target_domain"], train_size=spec.get("train_size") or 2000,
        meta_size=spec["meta_size"], test_size=spec["test_size"], val_size=spec["val_size"],
        in_domain_fraction=spec["in_domain_fraction"], domains=spec.get("domains"), seed=seed,
        name=name,
    )  # fmt: skip
