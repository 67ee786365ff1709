"""A seeded generator that lives on the data's device and survives checkpoints."""

from __future__ import annotations

import torch


class DeviceGenerator:
    """Created on first use on the device of the tensors it draws for (CPU or CUDA)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self._generator: torch.Generator | None = None
        self._pending: torch.Tensor | None = None

    def on(self, device: torch.device | str) -> torch.Generator:
        device = torch.device(device)
        if self._generator is None or self._generator.device.type != device.type:
            self._generator = torch.Generator(device=device).manual_seed(self.seed)
            if self._pending is not None:
                self._generator.set_state(self._pending)
                self._pending = None
        return self._generator

    def state_dict(self) -> dict:
        state = None if self._generator is None else self._generator.get_state()
        return {"seed": self.seed, "state": state if state is not None else self._pending}

    def load_state_dict(self, state: dict) -> None:
        self.seed = int(state["seed"])
        self._generator, self._pending = None, state["state"]
