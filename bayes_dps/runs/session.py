"""What every experiment does around its runs, in this order: check that ``--out`` can be
written (creating nothing), load the data, set the CPU threads, build the network once on the
``meta`` device (its options, inputs and size are checked before anything real is allocated),
run the command's own checks of config against data — and only then take the output folder
(locked, tied to the config and the runtime by a fingerprint). So bad input leaves ``--out`` as
it was. Then run, and write ``results.json`` once — atomically, with the provenance of the
numbers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bayes_dps import distributed as dist
from bayes_dps.checks import memory_bytes
from bayes_dps.data.registry import load_data, load_text_data
from bayes_dps.data.splits import DataSplits
from bayes_dps.errors import ConfigError
from bayes_dps.io import atomic_write_json
from bayes_dps.models.registry import auto_model_name, build_model
from bayes_dps.runs.metrics_log import require_tensorboard
from bayes_dps.runs.provenance import git_commit, provenance
from bayes_dps.runs.run_folder import RunFolder, check_writable
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
    #: the checkout's commit when the run started: the code that ran, even if the checkout
    #: moves on before ``results.json`` is written
    commit: str | None = field(default_factory=lambda: git_commit())

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
                self.device, self.threads, world_size=self.world_size, started=self.started,
                commit=self.commit,
            ),
        }
        if dist.is_main():
            atomic_write_json(self.out / "results.json", results)
        return results


def resolved_model(name: str, splits: DataSplits) -> str:
    return auto_model_name(splits.input_shape) if name == "auto" else name


def preflight_model(cfg: dict[str, Any], splits: DataSplits) -> None:
    """Build the network and pass a batch through it on the ``meta`` device (no memory, no
    compute): options it does not take, inputs it cannot take, or a size beyond half the
    machine's memory fail now."""
    shape = splits.input_shape
    with torch.device("meta"):
        model = build_model(cfg["model"], shape, splits.num_classes, cfg["model_options"])
        size = sum(p.numel() * p.element_size() for p in model.parameters())
        limit = memory_bytes() // 2
        if size > limit:
            raise ConfigError(
                f"model {cfg['model']!r} with model_options {cfg['model_options']} has "
                f"{size / 2**30:.1f} GiB of parameters, more than half of this machine's "
                f"{2 * limit / 2**30:.0f} GiB; make the network smaller"
            )
        inputs = splits.train.inputs
        dtype = inputs.dtype if isinstance(inputs, torch.Tensor) else torch.float32
        vocab = getattr(model, "input_vocab", None)
        if vocab is not None and isinstance(inputs, torch.Tensor) and len(inputs):
            top = int(inputs.max())
            if top >= vocab:
                raise ConfigError(
                    f"the inputs hold token ids up to {top}, but model {cfg['model']!r} has "
                    f"{vocab} embeddings; set model_options.buckets to {top + 1} or more "
                    "(the dataset's buckets)"
                )
        try:
            out = model(torch.zeros(2, *shape, dtype=dtype))
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
    extend: bool = False,
    log: Callable[[str], None] = print,
    checks: Callable[[Any], None] | None = None,
) -> Iterator[Session]:
    """``with session(cfg, out, "online", resume=..., checks=...) as s:`` — see the module
    docstring; ``checks(task)`` is the command's check of the config against the loaded data.
    Launched by ``torchrun``, every process joins the process group here; rank 0 alone takes
    the folder (its errors stop every process) and logs."""
    started = time.time()
    if cfg["logging"]["tensorboard"]:
        require_tensorboard()
    if dist.launch_rank() == 0:
        check_writable(Path(out))
    device = resolve_device(cfg["device"])
    dist.init_from_environment(device)
    device = resolve_device(cfg["device"])  # this process's own GPU once the group exists
    if not dist.is_main():
        log = _silent
    kind = cfg.get("task", "classification")
    splits = load_data(cfg["dataset"]) if kind == "classification" else load_text_data(
        cfg["dataset"]
    )  # fmt: skip
    model = resolved_model(cfg["model"], splits) if kind == "classification" else kind
    threads, why = configure_threads(cfg["threads"], model, device)
    world = dist.world_size()
    if kind == "classification":
        preflight_model(cfg, splits)
    task = build_task(cfg, splits)
    if checks is not None:
        checks(task)
    runtime = {"threads": threads, "world_size": world, "device": device.type}
    with ExitStack() as stack:
        fingerprint = dist.on_main(
            lambda: stack.enter_context(
                RunFolder(out, cfg, command, resume, log=log, runtime=runtime, extend=extend)
            ).fingerprint
        )
        log(
            f"device {device}, {threads} CPU thread(s) ({why})"
            + (f", {world} processes" if world > 1 else "")
        )
        for line in getattr(splits, "notes", ()):
            log(line)
        yield Session(
            cfg, Path(out), splits, task, device, threads, fingerprint, log, started=started,
            world_size=world,
        )  # fmt: skip


def _silent(_: str) -> None:
    """The log of processes other than rank 0."""
