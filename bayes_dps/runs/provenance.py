"""Where a result came from: package and library versions, git commit, device, threads,
world size, start time — stored in every ``results.json``."""

from __future__ import annotations

import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import torch


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit(start: str | Path | None = None) -> str | None:
    """The commit of the checkout the package runs from (``+dirty`` with local changes), or
    ``None`` when it is not a git checkout or git is missing."""
    where = Path(start) if start else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"{device} ({platform.processor() or platform.machine()})"


def provenance(
    device: torch.device,
    threads: int,
    *,
    world_size: int = 1,
    started: float | None = None,
    commit: str | None = None,
) -> dict[str, Any]:
    """The record stored under ``results.json["provenance"]`` (``commit``: the checkout's commit
    when the run started; read now when not given)."""
    from bayes_dps import __version__

    return {
        "package": "bayes-dps",
        "version": __version__,
        "git_commit": commit if commit is not None else git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pyro": _version("pyro-ppl"),
        "numpy": _version("numpy"),
        "device": device_name(device),
        "threads": threads,
        "world_size": world_size,
        "platform": platform.platform(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started or time.time())),
    }
