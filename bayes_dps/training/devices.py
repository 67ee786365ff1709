"""Where a run computes: the device, PyTorch's CPU threads, the memory format of convnets,
and waiting for queued device work (honest timings)."""

from __future__ import annotations

import torch

from bayes_dps import distributed as dist
from bayes_dps.errors import ConfigError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` → ``cuda`` when available, else ``cpu``; an unavailable CUDA request raises."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return dist.local_device(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
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
    return dist.local_device(device)


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


def channels_last(model: torch.nn.Module, device: torch.device) -> bool:
    """On CUDA, put a convolutional network in the ``channels_last`` memory format (faster
    convolutions on tensor cores); returns whether it did (inputs should follow)."""
    if device.type != "cuda" or not any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
        return False
    model.to(memory_format=torch.channels_last)
    return True


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work, so that wall-clock timings are honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
