"""Lightning runs of the integration modules, for ``torchrun --nproc_per_node=N``: rank 0
writes what each run ended at (the selected indices, ``w``, the parameters) to a JSON file, so
that a test can compare N processes with one. Float64, so that the only difference between
world sizes — the order of floating-point sums — stays far below anything that could flip a
selection."""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings

import torch

sys.path.insert(0, os.path.dirname(__file__))
torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
warnings.filterwarnings("ignore")

import lightning as L  # noqa: E402
from integration_helpers import blobs, meta_set, mlp, sampler, selector  # noqa: E402

from bayes_dps.integrations import BigBatchLoader  # noqa: E402
from bayes_dps.integrations.lightning import BADSModule, OnlineSelectionModule  # noqa: E402

logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)


def run(kind: str, folder: str) -> dict | None:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    x, y = blobs()
    rows = list(zip(x, y, strict=True))
    model, chosen = mlp(), []
    if kind == "online":
        module = OnlineSelectionModule(model, selector(model), n_b=8,
                                       optimizer=lambda p: torch.optim.SGD(p, lr=0.1))  # fmt: skip
        observe = module.method_log.observe
        module.method_log.observe = lambda idx: (chosen.append(idx.tolist()), observe(idx))[1]
        loader = BigBatchLoader(rows, 24, seed=0)
    else:
        theta = kind.removeprefix("bads_")
        xm, ym = meta_set()
        s = sampler(model)
        meta = BigBatchLoader(list(zip(xm, ym, strict=True)), 16, seed=1)
        opt = (lambda p: torch.optim.SGD(p, lr=0.1)) if theta == "optimizer" else None
        module = BADSModule(model, s, meta, theta=theta, optimizer=opt)
        loader = BigBatchLoader(rows, 16, seed=0)
    trainer = L.Trainer(
        accelerator="cpu", devices=world, strategy="ddp" if world > 1 else "auto", max_epochs=2,
        logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, use_distributed_sampler=False, log_every_n_steps=1,
        default_root_dir=folder,
    )  # fmt: skip
    trainer.fit(module, loader)
    if trainer.global_rank != 0:
        return None
    return {
        "chosen": chosen,
        "params": [p.detach().reshape(-1).tolist() for p in model.parameters()],
        "w": module.sampler.w.tolist() if kind != "online" else [],
        "steps": trainer.global_step,
    }


def main(kinds: str, out: str) -> None:
    results = {kind: run(kind, os.path.dirname(out)) for kind in kinds.split(",")}
    if int(os.environ.get("RANK", "0")) == 0:
        with open(out, "w") as fh:
            json.dump(results, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
