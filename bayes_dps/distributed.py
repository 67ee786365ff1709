"""``torch.distributed`` in one place, so that one process and many run the same code.

World size must not change *what* is computed, only *where*: a global batch is split into
equal contiguous shards, one per rank; gradients are summed over ranks; every rank draws the
same random numbers from generators seeded identically (and keeps its slice of per-point
noise); per-point state is merged after every step; rank 0 alone writes files. With one
process (no process group) every function here is a no-op or the identity.

Launch with ``torchrun --nproc_per_node=N [--nnodes=M ...] -m bayes_dps.cli ...``: the package
initialises the process group from the environment ``torchrun`` sets (gloo on CPU, NCCL on
CUDA).
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist

from bayes_dps.errors import ConfigError


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """True on the process that writes files (rank 0, or the only process)."""
    return rank() == 0


def launch_rank() -> int:
    """This process's rank as the launcher set it (0 when not launched by ``torchrun``), known
    before the process group exists."""
    return int(os.environ.get("RANK", 0)) if launched_by_torchrun() else 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1


def init_from_environment(device: torch.device) -> bool:
    """Join the process group ``torchrun`` describes (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``...): NCCL for CUDA, gloo for CPU. Returns True when running distributed."""
    if active():
        return True
    if not launched_by_torchrun():
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
    return True


def local_device(device: torch.device) -> torch.device:
    """``cuda`` becomes this process's GPU (``LOCAL_RANK``) when distributed."""
    if device.type == "cuda" and device.index is None and launched_by_torchrun():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


def shard(n: int) -> slice:
    """This rank's contiguous part of a global batch of ``n`` (equal parts required)."""
    size = world_size()
    if n % size:
        raise ConfigError(
            f"a global batch of {n} cannot be split evenly over {size} processes; choose batch "
            f"sizes divisible by the world size {size}"
        )
    part = n // size
    return slice(rank() * part, (rank() + 1) * part)


def local_shard(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """This rank's equal share of a global batch ``(x, y, idx)`` (all of it when not
    distributed)."""
    if not active():
        return batch
    part = shard(len(batch[1]))
    return tuple(t[part] for t in batch)


def all_reduce_sum_(tensors: list[torch.Tensor]) -> None:
    """Sum each tensor over ranks, in place (one flat buffer, one collective)."""
    if not active() or not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    offset = 0
    for t in tensors:
        t.copy_(flat[offset : offset + t.numel()].view_as(t))
        offset += t.numel()


def all_gather_cat(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's equally shaped ``tensor`` concatenated along dim 0, in rank order."""
    if not active():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


def broadcast_(tensor: torch.Tensor, src: int = 0) -> torch.Tensor:
    if active():
        dist.broadcast(tensor, src)
    return tensor


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast_object(obj, src: int = 0):
    """``obj`` of rank ``src`` on every rank (any picklable value)."""
    if not active():
        return obj
    box = [obj if rank() == src else None]
    dist.broadcast_object_list(box, src)
    return box[0]


def on_main(fn, *args, **kwargs):
    """Run ``fn`` on rank 0 only and hand its result — or its exception — to every rank, so
    that a failure on the writing process (a locked folder, a bad checkpoint) stops all
    processes with the same error instead of leaving them waiting."""
    if not active():
        return fn(*args, **kwargs)
    result, error = None, None
    if is_main():
        try:
            result = fn(*args, **kwargs)
        except BaseException as err:  # re-raised on every rank below
            error = err
    result, error = broadcast_object((result, error))
    if error is not None:
        raise error
    return result


def all_gather_objects(obj):
    """A picklable object from every rank (rank order)."""
    if not active():
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out
