"""Per-evaluation metrics of one (method, seed) run as CSV and, optionally, TensorBoard.

Called by the trainer after every epoch/evaluation with the whole history so far (see
``Trainer.on_epoch_end``): the CSV is rewritten atomically each time (so a resumed run's file
is complete and never holds a half row), TensorBoard gets the new records' scalars.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from bayes_dps.errors import ConfigError
from bayes_dps.io import atomic_write_bytes
from bayes_dps.runs.seeds import record_path


def flat_row(record: dict[str, Any]) -> dict[str, float]:
    """``{"epoch": 3, "test": {"acc": .9}, "group_weights": {"clean": .4}}`` →
    ``{"epoch": 3, "test/acc": .9, "group_weights/clean": .4}`` (numbers only)."""
    out: dict[str, float] = {}
    for k, v in record.items():
        if isinstance(v, dict):
            out.update({f"{k}/{kk}": vv for kk, vv in v.items() if isinstance(vv, int | float)})
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[k] = v
    return out


def require_tensorboard() -> type:
    """``torch.utils.tensorboard.SummaryWriter``, or a clear error when it cannot be used."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise ConfigError(
            "logging.tensorboard needs the tensorboard package: pip install "
            "'bayes-dps[tensorboard]' (or set logging.tensorboard=false)"
        ) from err
    return SummaryWriter


class MetricsLog:
    """``csv_path``: where the CSV goes (``None``: no CSV); ``tensorboard_dir``: a TensorBoard
    log folder (``None``: none); ``step_of(record)``: the x value of a record."""

    def __init__(
        self,
        csv_path: str | Path | None,
        tensorboard_dir: str | Path | None = None,
        step_of=lambda record: record["epoch"],
    ) -> None:
        self.csv_path = Path(csv_path) if csv_path else None
        self.step_of = step_of
        self.writer = None
        self.logged = 0
        if tensorboard_dir is not None:
            self.tensorboard_dir = Path(tensorboard_dir)
            self._writer_cls = require_tensorboard()

    def __call__(self, history: list[dict[str, Any]]) -> None:
        rows = [flat_row(r) for r in history]
        if self.csv_path is not None:
            columns = list(dict.fromkeys(k for r in rows for k in r))
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            atomic_write_bytes(self.csv_path, buf.getvalue().encode())
        if hasattr(self, "_writer_cls"):
            if self.writer is None:  # purge what a killed run logged past the resumed point
                first = self.step_of(history[len(history) - 1]) if history else 0
                self.writer = self._writer_cls(str(self.tensorboard_dir), purge_step=first)
                self.logged = len(history) - 1
            for record, row in zip(history[self.logged :], rows[self.logged :], strict=True):
                for k, v in row.items():
                    self.writer.add_scalar(k, v, self.step_of(record))
            self.writer.flush()
            self.logged = len(history)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def metrics_log_for(
    cfg: dict[str, Any], out: Path, method: str, seed: int, step_of=lambda r: r["epoch"]
) -> MetricsLog:
    """CSV (and TensorBoard) logging of one run, as the config's ``logging`` block says."""
    tb = out / "tensorboard" / f"{method}_seed{seed}" if cfg["logging"]["tensorboard"] else None
    csv = record_path(out, method, seed, ".csv") if cfg["logging"]["csv"] else None
    return MetricsLog(csv, tb, step_of=step_of)
