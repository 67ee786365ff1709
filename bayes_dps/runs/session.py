"""What every experiment does around its runs, in this order: take the output folder (writable,
locked, tied to the config), load the data, set the CPU threads, build the network once on the
``meta`` device (its options are checked before anything real is allocated), run, and write
``results.json`` once — atomically, with the provenance of the numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bayes_dps import distributed as dist
from bayes_dps.data.registry import load_data, load_text_data
from bayes_dps.data.splits import DataSplits
from bayes_dps.errors import ConfigError
from bayes_dps.io import atomic_write_json
from bayes_dps.models.registry import auto_model_name, build_model
from bayes_dps.runs.metrics_log import require_tensorboard
from bayes_dps.runs.provenance import provenance
from bayes_dps.runs.run_folder import RunFolder
from bayes_dps.training.devices import configure_threads, resolve_device
from bayes_dps.tasks import build_task


@dataclass
class Session:
    cfg: dict[str, Any]
    out: Path
    splits: Any  # DataSplits (classification) or raw text splits
    task: Any
    device: torch.device
    threads: int
    fingerprint: str
    log: Callable[[str], None] = print
    started: float = field(default_factory=time.time)
    world_size: int = 1

    @property
    def model_name(self) -> str:
        return resolved_model(self.cfg["model"], self.splits)

    def write_results(self, results: dict[str, Any]) -> dict[str, Any]:
        """Add ``provenance`` and ``world_size`` and write ``results.json`` atomically (rank 0
        writes; every process returns the same results)."""
        results = {
            **results,
            "world_size": self.world_size,
            "provenance": provenance(
                self.device, self.threads, world_size=self.world_size, started=self.started
            ),
        }
        if dist.is_main():
            atomic_write_json(self.out / "results.json", results)
        return results


def resolved_model(name: str, splits: DataSplits) -> str:
    return auto_model_name(splits.input_shape) if name == "auto" else name


def preflight_model(cfg: dict[str, Any], splits: DataSplits) -> None:
    """Build the network and pass a batch through it on the ``meta`` device (no memory, no
    compute): options it does not take, or inputs it cannot take, fail now."""
    shape = splits.input_shape
    with torch.device("meta"):
        model = build_model(cfg["model"], shape, splits.num_classes, cfg["model_options"])
        try:
            out = model(torch.empty(2, *shape))
        except (RuntimeError, ValueError) as err:
            raise ConfigError(
                f"model {cfg['model']!r} cannot take inputs of shape {tuple(shape)} "
                f"({str(err).splitlines()[0][:120]}); choose another model"
            ) from err
    if tuple(out.shape) != (2, splits.num_classes):
        raise ConfigError(
            f"model {cfg['model']!r} gives outputs of shape {tuple(out.shape[1:])} for "
            f"{splits.num_classes} classes"
        )


@contextmanager
def session(
    cfg: dict[str, Any],
    out: str | Path,
    command: str,
    *,
    resume: bool = False,
    log: Callable[[str], None] = print,
) -> Iterator[Session]:
    """``with session(cfg, out, "online", resume=...) as s:`` — see the module docstring.
    Launched by ``torchrun``, every process joins the process group here; rank 0 alone takes
    the folder (its errors stop every process) and logs."""
    started = time.time()
    if cfg["logging"]["tensorboard"]:
        require_tensorboard()
    device = resolve_device(cfg["device"])
    dist.init_from_environment(device)
    device = resolve_device(cfg["device"])  # this process's own GPU once the group exists
    if not dist.is_main():
        log = _silent
    with ExitStack() as stack:
        fingerprint = dist.on_main(
            lambda: stack.enter_context(RunFolder(out, cfg, command, resume, log=log)).fingerprint
        )
        kind = cfg.get("task", "classification")
        splits = (
            load_data(cfg["dataset"])
            if kind == "classification"
            else load_text_data(cfg["dataset"])
        )
        model = resolved_model(cfg["model"], splits) if kind == "classification" else kind
        threads, why = configure_threads(cfg["threads"], model, device)
        world = dist.world_size()
        log(
            f"device {device}, {threads} CPU thread(s) ({why})"
            + (f", {world} processes" if world > 1 else "")
        )
        if kind == "classification":
            preflight_model(cfg, splits)
        task = build_task(cfg, splits)
        yield Session(
            cfg, Path(out), splits, task, device, threads, fingerprint, log, started=started,
            world_size=world,
        )  # fmt: skip


def _silent(_: str) -> None:
    """The log of processes other than rank 0."""
