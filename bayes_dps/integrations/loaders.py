"""Big batches for any loop: the package's seeded order as a ``torch.utils.data`` loader.

``BatchStream`` (``bayes_dps.data.batches``) draws epoch ``e``'s order from ``(seed, e)``;
:class:`BigBatchSampler` yields the same index batches, so a loader built on it delivers the
package's big batches ``B_t`` — to a hand-written loop, Hugging Face's ``Trainer`` or Lightning —
and a resumed run sees the batches an uninterrupted one would. Every row is given its index
(:class:`Indexed`): per-point state (the weights ``w_i``, cached zero-shot logits) is looked up
by it, and the user's collator never sees, so cannot drop, the index column
(:class:`IndexCollator`).

    loader = BigBatchLoader(train, n_B=320, seed=0)   # (x, y, idx) batches, or dicts + "idx"
    for epoch in range(3):
        loader.set_epoch(epoch)
        for x, y, idx in loader: ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from bayes_dps.data.batches import epoch_permutation
from bayes_dps.errors import DataError

#: the name of the index column added to dict rows
INDEX = "idx"


class EpochOrder(Sampler[int]):
    """The indices of epoch ``epoch`` in ``BatchStream``'s order: a permutation of ``range(n)``
    seeded by ``(seed, epoch)``, or the natural order. :meth:`set_epoch` picks the epoch
    (``BigBatchSampler.set_epoch``, Lightning and Hugging Face's ``Trainer`` call it)."""

    def __init__(self, n: int, *, seed: int = 0, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle = int(n), int(seed), shuffle
        self.epoch = 0
        self._cached: tuple[int, torch.Tensor] | None = None  # the last epoch's order

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def order(self, epoch: int) -> torch.Tensor:
        """Epoch ``epoch``'s indices, drawn once per epoch (``batch_at`` asks every step)."""
        if self._cached is None or self._cached[0] != epoch:
            order = epoch_permutation(self.n, self.seed, epoch) if self.shuffle else None
            self._cached = (epoch, torch.arange(self.n) if order is None else order)
        return self._cached[1]

    def __iter__(self) -> Iterator[int]:
        return iter(self.order(self.epoch).tolist())


class BigBatchSampler(Sampler[list[int]]):
    """Index batches of ``batch_size`` of :class:`EpochOrder` (its ``sampler``, as in
    ``torch.utils.data.BatchSampler``), the last incomplete batch dropped by default.
    :meth:`set_epoch` picks the epoch; :meth:`batch_at` gives any global step's batch without
    iterating (meta batches, resume)."""

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise DataError(f"batch_size={batch_size!r} must be a positive integer")
        if drop_last and n < batch_size:
            raise DataError(
                f"the dataset has {n} rows, fewer than one batch of {batch_size}; lower the "
                "batch size (n_B) or pass drop_last=False"
            )
        self.sampler = EpochOrder(n, seed=seed, shuffle=shuffle)
        self.batch_size, self.drop_last = batch_size, drop_last

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        n = self.sampler.n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def batches(self, epoch: int) -> list[list[int]]:
        chunks = [c.tolist() for c in self.sampler.order(epoch).split(self.batch_size)]
        if self.drop_last and chunks and len(chunks[-1]) < self.batch_size:
            chunks.pop()
        return chunks

    def batch_at(self, step: int) -> list[int]:
        """The batch of global step ``step``, counting on across epochs (``BatchStream.cycle``)."""
        epoch, pos = divmod(int(step), len(self))
        return self.batch(epoch, pos)

    def batch(self, epoch: int, pos: int) -> list[int]:
        """Batch ``pos`` of epoch ``epoch`` (a slice of its order, not the whole epoch split)."""
        start = pos * self.batch_size
        return self.sampler.order(epoch)[start : start + self.batch_size].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        # lazy: the epoch is read at the first batch, not when the iterator is made (Lightning
        # makes a resumed run's first iterator before it sets that epoch)
        yield from self.batches(self.epoch)


class Gathered(tuple):
    """A batch ``(x, y, idx)`` gathered by indexing a tensor-backed dataset: the collator
    passes it through."""


class Indexed(Dataset):
    """``dataset`` with each row's index: a dict row gains ``"idx"``, a tuple ``(x, y)`` becomes
    ``(x, y, idx)``. Rows that already carry an index (the package's datasets) are kept.

    With ``gather=True`` a batch of a tensor-backed ``IndexedDataset`` (``bayes_dps.data``) is
    one indexing of its tensors (``__getitems__``, which ``DataLoader`` calls with a batch's
    indices) — the arithmetic of ``BatchStream`` — instead of ``n_B`` rows collated one by one;
    the values are the same."""

    def __init__(self, dataset: Any, *, gather: bool = False) -> None:
        self.dataset = dataset
        self.gather = (
            gather
            and getattr(dataset, "tensor_backed", False)
            and getattr(dataset, "padded_widths", None) is None  # text rows: cut to width
        )
        if self.gather:
            self._targets = torch.as_tensor(dataset.targets)

    def __getitems__(self, indices: list[int]) -> Any:
        if not self.gather:
            return [self[i] for i in indices]
        idx = torch.as_tensor(indices, dtype=torch.long)
        return Gathered((self.dataset.inputs[idx], self._targets[idx], idx))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> Any:
        row = self.dataset[i]
        if isinstance(row, Mapping):
            return {**row, INDEX: i}
        if isinstance(row, tuple | list) and len(row) == 2:
            return (*row, i)
        if isinstance(row, tuple | list) and len(row) == 3:
            return tuple(row)
        raise DataError(
            f"row {i} is a {type(row).__name__}; rows must be dicts (input_ids, labels, ...) or "
            "(x, y) / (x, y, idx) tuples"
        )


class IndexCollator:
    """Wraps ``collate_fn`` (default: ``default_collate``): the index column is taken out of
    each dict row before the wrapped collator runs (which may drop unknown columns, as
    ``DataCollatorWithPadding`` or TRL's collators do) and put back as a tensor after."""

    def __init__(self, collate_fn: Callable | None = None) -> None:
        self.collate_fn = collate_fn or default_collate

    def __call__(self, rows: Sequence[Any]) -> Any:
        if isinstance(rows, Gathered):
            return tuple(rows)
        if not rows or not isinstance(rows[0], Mapping):
            return self.collate_fn(rows)
        if INDEX not in rows[0]:
            raise DataError(
                f"the rows have no {INDEX!r} column: load them through BigBatchLoader (or wrap "
                f"the dataset in bayes_dps.integrations.Indexed), which adds it"
            )
        idx = torch.tensor([r[INDEX] for r in rows], dtype=torch.long)
        batch = self.collate_fn([{k: v for k, v in r.items() if k != INDEX} for r in rows])
        batch[INDEX] = idx
        return batch


class BigBatchLoader(DataLoader):
    """A ``DataLoader`` of big batches in the package's order (:class:`BigBatchSampler`) over
    the indexed ``dataset``; ``collate_fn`` is wrapped by :class:`IndexCollator`. Extra
    keyword arguments (``num_workers``, ``pin_memory``, ...) go to ``DataLoader``."""

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
        collate_fn: Callable | None = None,
        **kwargs: Any,
    ) -> None:
        sampler = BigBatchSampler(
            len(dataset), batch_size, seed=seed, shuffle=shuffle, drop_last=drop_last
        )
        super().__init__(
            Indexed(dataset, gather=collate_fn is None), batch_sampler=sampler,
            collate_fn=IndexCollator(collate_fn), **kwargs,
        )  # fmt: skip

    def set_epoch(self, epoch: int) -> None:
        """Deliver epoch ``epoch``'s order next (Hugging Face's ``Trainer`` calls this)."""
        self.batch_sampler.set_epoch(epoch)

    def batch_at(self, step: int) -> Any:
        """The collated batch of global step ``step`` (counting on across epochs)."""
        return self.collate_fn(self.dataset.__getitems__(self.batch_sampler.batch_at(step)))
