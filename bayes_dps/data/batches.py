"""Seeded batch streams over index-carrying datasets.

The order of an epoch depends only on ``(seed, epoch)``, so a resumed run sees the same
batches as an uninterrupted one. In-memory tensor datasets are batched by one indexing
operation on a copy kept on the target device (no per-item Python); others go through a
``torch.utils.data.DataLoader`` with the same index order. Padded text rows are cut to the
batch's widest row (the dataset's ``padded_widths``, read on the host).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader

from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.errors import DataError

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """A permutation of ``range(n)`` determined by ``(seed, epoch)``."""
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    return torch.randperm(n, generator=g)


class BatchStream:
    """Batches ``(x, y, idx)`` of a dataset on ``device``.

    Args:
        dataset: the data.
        batch_size: points per batch.
        shuffle: a fresh seeded permutation each epoch (else the natural order).
        drop_last: drop the final incomplete batch (so every batch has ``batch_size`` points).
        seed: with the epoch number, fixes the order.
        device: where batches are delivered.
        num_workers: DataLoader workers for datasets with per-item transforms.
        channels_last: deliver image batches in the ``channels_last`` memory format.
    """

    def __init__(
        self,
        dataset: IndexedDataset,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = True,
        seed: int = 0,
        device: torch.device | str = "cpu",
        num_workers: int = 0,
        channels_last: bool = False,
    ) -> None:
        if batch_size < 1:
            raise DataError(f"batch size must be >= 1, got {batch_size}")
        if drop_last and len(dataset) < batch_size:
            raise DataError(
                f"the dataset has {len(dataset)} points, fewer than one batch of {batch_size}; "
                "lower the batch size (n_B)"
            )
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.device = torch.device(device)
        self.num_workers = num_workers
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self._x = None
        if dataset.tensor_backed:
            x = dataset.inputs.to(self.device)
            self._x = x.contiguous(memory_format=self.memory_format) if x.dim() == 4 else x
        self._y = torch.as_tensor(dataset.targets, device=self.device)
        #: per-row widths of padded (text) rows, read on the host: batches are cut to their
        #: widest row without a device sync
        widths = getattr(dataset, "padded_widths", None)
        self._widths = None if widths is None else widths()

    @classmethod
    def sequential(
        cls,
        dataset: IndexedDataset,
        batch_size: int,
        *,
        device: torch.device | str = "cpu",
        num_workers: int = 0,
    ) -> BatchStream:
        """Every point once, in order, last batch possibly smaller (evaluation and scoring)."""
        return cls(
            dataset,
            batch_size,
            shuffle=False,
            drop_last=False,
            device=device,
            num_workers=num_workers,
        )

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        """The indices epoch ``epoch`` visits, in order (a seeded permutation, or the natural
        order); subclasses may draw them otherwise."""
        n = len(self.dataset)
        return epoch_permutation(n, self.seed, epoch) if self.shuffle else torch.arange(n)

    def index_batches(self, epoch: int) -> list[torch.Tensor]:
        chunks = list(self.order(epoch).split(self.batch_size))
        if self.drop_last and chunks and len(chunks[-1]) < self.batch_size:
            chunks.pop()
        return chunks

    def epoch(self, epoch: int = 0) -> Iterator[Batch]:
        chunks = self.index_batches(epoch)
        if self._x is not None:
            for idx in chunks:
                idx_dev = idx.to(self.device)
                x, y = self._x[idx_dev], self._y[idx_dev]
                if self._widths is not None:
                    wx, wy = (int(w[idx.numpy()].max()) for w in self._widths)
                    x, y = x[:, :wx].contiguous(), y[:, :wy].contiguous()
                yield x, y, idx_dev
            return
        loader = DataLoader(
            self.dataset,
            batch_sampler=[c.tolist() for c in chunks],
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        for x, y, idx in loader:
            x = x.to(self.device, non_blocking=True)
            if x.dim() == 4:
                x = x.contiguous(memory_format=self.memory_format)
            yield (
                x,
                y.to(self.device, non_blocking=True),
                idx.to(self.device, non_blocking=True),
            )

    __iter__ = epoch

    def cycle(self, start_step: int = 0) -> Iterator[Batch]:
        """Batches forever, epoch after epoch, starting at global step ``start_step`` — so a run
        counted in steps (BADS) that resumes continues exactly where it stopped."""
        per_epoch = len(self)
        epoch, skip = divmod(start_step, per_epoch)
        while True:
            for i, batch in enumerate(self.epoch(epoch)):
                if i >= skip:
                    yield batch
            epoch, skip = epoch + 1, 0
