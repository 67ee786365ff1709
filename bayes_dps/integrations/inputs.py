"""Trainer batches as the package's ``(x, y, idx)`` tensors, and the checks run before training.

A Hugging Face batch is a dict: ``input_ids`` (with ``attention_mask``) or ``x``, ``labels``
(a class id per row, or target token ids with ``−100`` where a position does not count — the
package's ``IGNORE``) and the index column ``idx``. Token inputs become the package's padded
form: masked positions set to ``PAD`` (``bayes_dps.data.text``), which the package's text
models and likelihoods mask out of attention.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from bayes_dps.data.text import PAD
from bayes_dps.errors import ConfigError, DataError
from bayes_dps.integrations.loaders import INDEX

LABELS = ("labels", "label")


def batch_tensors(batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x, y, idx)`` of a batch: a tuple as it is, a dict by its columns (module docstring)."""
    if isinstance(batch, tuple | list):
        if len(batch) != 3:
            raise DataError(
                f"a batch must be (x, y, idx), got a tuple of {len(batch)}: load the data "
                "through bayes_dps.integrations.BigBatchLoader, which adds the index"
            )
        return tuple(batch)
    if not isinstance(batch, Mapping):
        raise DataError(f"a batch must be a dict or an (x, y, idx) tuple, got {type(batch)}")
    label = next((k for k in LABELS if k in batch), None)
    if label is None:
        raise DataError(
            f"the batch has no 'labels' column (it has {sorted(batch)}): selection and BADS "
            "need each row's label (a class id, or target token ids); add it as 'labels'"
        )
    if INDEX not in batch:
        raise DataError(
            f"the batch has no {INDEX!r} column (it has {sorted(batch)}): the collator dropped "
            "it or the loader never added it; load the data through "
            "bayes_dps.integrations.BigBatchLoader, which keeps it past any collator"
        )
    if "input_ids" in batch:
        x = batch["input_ids"]
        if "attention_mask" in batch:
            x = x.masked_fill(batch["attention_mask"] == 0, PAD)
    elif "x" in batch:
        x = batch["x"]
    else:
        raise DataError(f"the batch has neither 'input_ids' nor 'x' (it has {sorted(batch)})")
    return x, batch[label], batch[INDEX]


def first_row(dataset: Any) -> Any:
    if len(dataset) == 0:
        raise DataError("the dataset is empty")
    return dataset[0]


def check_labelled(dataset: Any, what: str) -> None:
    """Raise before training when ``dataset``'s rows carry no label."""
    row = first_row(dataset)
    if isinstance(row, Mapping) and not any(k in row for k in LABELS):
        raise DataError(
            f"the {what} has no 'labels' column (its rows have {sorted(row)}): selection and "
            "BADS need each row's label; add it as 'labels'"
        )
    if isinstance(row, tuple | list) and len(row) < 2:
        raise DataError(f"the {what}'s rows are {len(row)}-tuples; give (x, y) rows")


def class_ids(dataset: Any) -> set[int]:
    """The class ids of a classification dataset (its ``targets``, its label column, or read
    row by row)."""
    targets = getattr(dataset, "targets", None)
    if targets is None and hasattr(dataset, "column_names"):
        col = next((k for k in LABELS if k in dataset.column_names), None)
        targets = None if col is None else dataset[col]
    if targets is None:
        rows: Iterable = (dataset[i] for i in range(len(dataset)))
        targets = [
            next(r[k] for k in LABELS if k in r) if isinstance(r, Mapping) else r[1] for r in rows
        ]
    return {int(t) for t in torch.as_tensor(targets).flatten().tolist()}


def check_meta_classes(train: Any, meta: Any, num_classes: int | None) -> None:
    """``D_m`` must speak of ``D_t``'s classes: a meta label outside ``[0, k)`` or never seen in
    ``D_t`` is refused, naming the classes."""
    seen, meta_ids = class_ids(train), class_ids(meta)
    k = num_classes if num_classes is not None else max(seen) + 1
    other = sorted(c for c in meta_ids if c not in seen or not 0 <= c < k)
    if other:
        raise ConfigError(
            f"the meta dataset D_m has classes {other[:10]} that the training data D_t "
            f"(classes {sorted(seen)[:10]}{'…' if len(seen) > 10 else ''}, k={k}) does not: "
            "D_m must be curated data of the same task — relabel it, or drop those rows"
        )


def check_n_b(n_b: Any, n_big: int) -> int:
    """``1 <= n_b <= n_B``, checked before training."""
    if isinstance(n_b, bool) or not isinstance(n_b, int) or not 1 <= n_b <= n_big:
        raise ConfigError(
            f"n_b={n_b!r} must be an integer between 1 and the big batch's size n_B={n_big}: "
            "lower n_b or raise the train batch size (per_device_train_batch_size / the "
            "loader's batch_size), which is n_B"
        )
    return n_b


#: how ``θ`` moves in a BADS integration: the sampler's SG-MCMC kernel, or the user's optimiser
THETA_MOVES = ("sgld", "optimizer")


def check_theta(theta: Any) -> str:
    if theta not in THETA_MOVES:
        raise ConfigError(f"theta={theta!r}; choose from {THETA_MOVES}")
    return theta


def check_no_accumulation(name: str, steps: int) -> None:
    """A trainer's gradient accumulation (``name`` = ``steps``) must be off: one optimiser step
    is one selection, or one joint BADS move."""
    if steps != 1:
        raise ConfigError(
            f"{name}={steps}: one step is one selection (or one BADS move); set it to 1 and "
            "raise n_B instead"
        )
