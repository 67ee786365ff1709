"""Device choice, seeding and random-state capture (for exact resume)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from bayes_dps.errors import ConfigError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` → ``cuda`` when available, else ``cpu``; an unavailable CUDA request raises."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"device {name!r} is not a torch device (use auto, cpu, cuda)") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available; use device: cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(
            f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) are visible"
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {name!r} requested but MPS is not available; use device: cpu")
    return device


#: networks for which one CPU thread is the default: their ops are too small for a thread pool
#: to pay off, and on a busy machine extra threads make them several times slower (measured:
#: an MLP step 3.1x slower with 2 threads than with 1 when the other core was busy, 1.25x
#: faster when it was idle; a ResNet-32 step 1.9x faster with 2 threads on an idle machine)
SMALL_NETWORKS = ("mlp", "lenet5")


def configure_threads(setting: int | str, model: str, device: torch.device) -> tuple[int, str]:
    """Set PyTorch's intra-op CPU threads from the ``threads`` config key; returns the number
    and why. ``auto``: 1 for the small networks on CPU, else all of ``torch``'s default."""
    if setting == "auto":
        if device.type == "cpu" and model in SMALL_NETWORKS:
            n, why = 1, f"auto: {model} on cpu"
        else:
            n, why = DEFAULT_THREADS, f"auto: all cores for {model} on {device.type}"
    else:
        n, why = int(setting), "set"
    torch.set_num_threads(n)
    return n, why


#: PyTorch's own default, read once at import (before anything changed it)
DEFAULT_THREADS = torch.get_num_threads()


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - user code may use the legacy global RNG
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def rng_state() -> dict[str, Any]:
    """Every global generator's state, to put in a checkpoint."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work, so that wall-clock timings are honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
