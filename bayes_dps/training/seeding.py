"""Seeding and capturing every global random generator (for exact resume)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from bayes_dps import distributed as dist
from bayes_dps.errors import ConfigError


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - user code may use the legacy global RNG
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def rng_states() -> dict[str, Any] | list[dict[str, Any]]:
    """Every global generator's state — of every process when distributed (a list in rank
    order; a collective call) — to put in a checkpoint."""
    return dist.all_gather_objects(rng_state()) if dist.active() else rng_state()


def set_rng_states(states: dict[str, Any] | list[dict[str, Any]]) -> None:
    """Restore what :func:`rng_states` saved: this process's own entry."""
    if isinstance(states, list):
        if len(states) != dist.world_size():
            raise ConfigError(
                f"the checkpoint holds {len(states)} processes' random states, this run has "
                f"{dist.world_size()}: resume with the same number of processes"
            )
        states = states[dist.rank()]
    set_rng_state(states)


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
