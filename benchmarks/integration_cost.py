"""The trainer integrations' cost: a step of each method inside Hugging Face's ``Trainer``, a
Lightning ``Trainer`` and a hand-written loop, against the plain step of the same trainer on the
same model and batch sizes, and that ratio against the method's own cost in the package's loop.

A step is timed as the interval between two consecutive step ends (so it includes fetching and
collating the batch, the trainer's callbacks and logging checks): a ``TrainerCallback`` in
Hugging Face's ``Trainer``, a ``Callback`` in Lightning's, the loop body's end in a loop. Per run
the median interval after ``--warmup`` steps; runs of every variant are interleaved
(round-robin) ``--repeats`` times and summarised by medians, so a shared machine's drift hits
all alike. The model is the digits MLP (real handwritten digits, 20 % symmetric label noise);
small on purpose: a trainer's fixed cost per step is largest against a small step.

Online selection (``n_B`` = 320, ``n_b`` = 32, cached predictor logits):

* ``own_uniform`` / ``own_bayesian`` — the package's loop (``OnlineSelectionEpoch.step``) with
  the uniform rule and with Eq. 16's Bayesian rule;
* ``loop_bayesian`` — ``SelectedBatches`` over a ``BigBatchLoader``;
* ``hf_plain`` / ``hf_bayesian`` — a ``Trainer`` training on batches of ``n_b`` rows, and
  ``OnlineSelectionTrainer``;
* ``lightning_plain`` / ``lightning_bayesian`` — a ``LightningModule`` on batches of ``n_b``,
  and ``OnlineSelectionModule``.

BADS (``|B_t|`` = 64, ``|B_m|`` = 32, per-instance weights, SGLD):

* ``own_plain`` / ``own_bads`` — one SGD step on ``B_t ∪ B_m``, and ``BADSSampler.step``;
* ``loop_bads`` — ``BADSBatches`` with an optimiser moving ``θ`` (``StepPoint.loss()``);
* ``hf_plain`` / ``hf_bads`` — a ``Trainer`` on batches of ``|B_t| + |B_m|`` rows, and
  ``BADSTrainer(theta="sgld")``;
* ``lightning_plain`` / ``lightning_bads`` — the same in Lightning (``BADSModule``).

Written: each trainer's ``<trainer>_ratio_over_own_ratio`` — (method ÷ plain in that trainer)
÷ (method ÷ plain in the package's loop), the integration's cost beyond the method's own (the
target: at most 1.1) — the ratios it is made of, each method step over the package loop's
(``<trainer>_<method>_over_own_<method>``), and the medians in milliseconds.

    python benchmarks/integration_cost.py [--repeats 9] [--steps 60] [--warmup 8]
        [--threads 1] [--out runs/benchmarks/integration_cost.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

from bayes_dps.data import BatchStream, load_data
from bayes_dps.inference.bads import BADSSampler
from bayes_dps.integrations import BADSBatches, BigBatchLoader, SelectedBatches
from bayes_dps.io import atomic_write_json
from bayes_dps.methods.online.loop import OnlineSelectionEpoch
from bayes_dps.models import build_model
from bayes_dps.models.priors import truncated_normal
from bayes_dps.runs.provenance import git_commit
from bayes_dps.selection.predictors.cached import CachedLogits
from bayes_dps.selection.selector import OnlineSelector

N_BIG, N_SMALL, B_T, B_M = 320, 32, 64, 32


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--steps", type=int, default=60, help="timed steps per run, after warm-up")
    p.add_argument("--warmup", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--methods", default="online,bads", help="online, bads or both")
    p.add_argument("--out", default="runs/benchmarks/integration_cost.json")
    return p.parse_args(argv)


class Problem:
    """The digits data (tensors, dict rows, (x, y) rows) and a fresh MLP per variant."""

    def __init__(self) -> None:
        self.splits = load_data({"name": "digits", "noise": 0.2, "meta_per_class": 20})
        self.k = self.splits.num_classes
        train, meta = self.splits.train, self.splits.meta
        self.dict_train = dict_rows(train)
        self.dict_meta = dict_rows(meta)
        self.pairs = [(train[i][0], int(train[i][1])) for i in range(len(train))]
        g = torch.Generator().manual_seed(0)
        self.logits = torch.randn(len(train), self.k, generator=g)

    def model(self) -> torch.nn.Module:
        torch.manual_seed(0)
        return build_model("mlp", self.splits.input_shape, self.k)

    def selector(self, model, rule: str) -> OnlineSelector:
        predictor = CachedLogits(self.logits, fingerprint="benchmark")
        return OnlineSelector(model, rule, predictor=predictor, seed=0, alpha=0.3, n_e=500)

    def sampler(self, model) -> BADSSampler:
        return BADSSampler(
            model, len(self.splits.train), len(self.splits.meta),
            prior=truncated_normal(0.5, 1.0), rho_w=10, eta_theta=3e-4, eta_w=0.5,
            temperature=1e-4, seed=0,
        )  # fmt: skip


def dict_rows(dataset) -> list[dict]:
    return [{"x": dataset[i][0], "labels": int(dataset[i][1])} for i in range(len(dataset))]


def intervals(ends: list[float], warmup: int) -> float:
    """The median interval between consecutive step ends, after ``warmup`` steps."""
    gaps = [b - a for a, b in zip(ends[warmup:], ends[warmup + 1 :], strict=False)]
    return statistics.median(gaps)


def loop_steps(steps: Iterator[None], n: int) -> list[float]:
    ends = []
    for _ in range(n):
        next(steps)
        ends.append(time.perf_counter())
    return ends


# --- the package's own loops and hand-written loops ------------------------------------------


def own_online(pb: Problem, rule: str, n: int) -> list[float]:
    model = pb.model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    stream = BatchStream(pb.splits.train, N_BIG, seed=0)
    loop = OnlineSelectionEpoch(model, opt, stream, pb.selector(model, rule).rule, N_SMALL)

    def steps():
        for x, y, idx in stream.cycle():
            loop.step(x, y, idx)
            yield

    return loop_steps(steps(), n)


def loop_online(pb: Problem, n: int) -> list[float]:
    model = pb.model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    selector = pb.selector(model, "bayesian")

    def steps():
        loader = BigBatchLoader(pb.splits.train, N_BIG, seed=0)
        for epoch in range(10**6):
            loader.set_epoch(epoch)
            for b in SelectedBatches(selector, loader, n_b=N_SMALL):
                loss = b.loss(model)
                opt.zero_grad()
                loss.backward()
                opt.step()
                yield

    return loop_steps(steps(), n)


def own_bads_plain(pb: Problem, n: int) -> list[float]:
    model = pb.model()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    train = BatchStream(pb.splits.train, B_T, seed=0).cycle()
    meta = BatchStream(pb.splits.meta, B_M, seed=1).cycle()

    def steps():
        while True:
            (xt, yt, _), (xm, ym, _) = next(train), next(meta)
            loss = F.cross_entropy(model(torch.cat([xt, xm])), torch.cat([yt, ym]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            yield

    return loop_steps(steps(), n)


def own_bads(pb: Problem, n: int) -> list[float]:
    sampler = pb.sampler(pb.model())
    train = BatchStream(pb.splits.train, B_T, seed=0).cycle()
    meta = BatchStream(pb.splits.meta, B_M, seed=1).cycle()

    def steps():
        while True:
            sampler.step(next(train), next(meta), check=False)
            yield

    return loop_steps(steps(), n)


def loop_bads(pb: Problem, n: int) -> list[float]:
    model = pb.model()
    sampler = pb.sampler(model)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def steps():
        train = BigBatchLoader(pb.splits.train, B_T, seed=0)
        meta = BigBatchLoader(pb.splits.meta, B_M, seed=1)
        for epoch in range(10**6):
            train.set_epoch(epoch)
            for b in BADSBatches(sampler, train, meta):
                loss = b.loss()
                opt.zero_grad()
                loss.backward()
                opt.step()
                yield

    return loop_steps(steps(), n)


# --- Hugging Face ------------------------------------------------------------------------------


def hf_run(make: Callable, batch: int, n: int) -> list[float]:
    import transformers

    ends: list[float] = []

    class StepEnds(transformers.TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            ends.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as out:
        args = transformers.TrainingArguments(
            output_dir=out, per_device_train_batch_size=batch, max_steps=n, max_grad_norm=0.0,
            report_to="none", use_cpu=True, save_strategy="no", logging_steps=10**6,
            disable_tqdm=True, dataloader_drop_last=True, seed=0, remove_unused_columns=False,
        )  # fmt: skip
        trainer = make(args)
        trainer.remove_callback(transformers.PrinterCallback)  # the end-of-run summary
        trainer.add_callback(StepEnds())
        trainer.train()
    return ends


def hf_plain_trainer():
    import transformers

    class PlainTrainer(transformers.Trainer):
        """What a practitioner writes for a classifier whose forward returns logits."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            logits = model(inputs["x"])
            loss = F.cross_entropy(logits, inputs["labels"])
            return (loss, logits) if return_outputs else loss

    return PlainTrainer


def adamw(model):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)


def sgd(model):
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)


def hf_online_plain(pb: Problem, n: int) -> list[float]:
    model = pb.model()
    make = lambda a: hf_plain_trainer()(  # noqa: E731
        model=model, args=a, train_dataset=pb.dict_train, optimizers=adamw(model)
    )
    return hf_run(make, N_SMALL, n)


def hf_online(pb: Problem, n: int) -> list[float]:
    from bayes_dps.integrations.hf_trainer import OnlineSelectionTrainer

    model = pb.model()
    make = lambda a: OnlineSelectionTrainer(  # noqa: E731
        model=model, args=a, train_dataset=pb.dict_train, optimizers=adamw(model),
        selector=pb.selector(model, "bayesian"), n_b=N_SMALL,
    )  # fmt: skip
    return hf_run(make, N_BIG, n)


def hf_bads_plain(pb: Problem, n: int) -> list[float]:
    model = pb.model()
    make = lambda a: hf_plain_trainer()(  # noqa: E731
        model=model, args=a, train_dataset=pb.dict_train, optimizers=sgd(model)
    )
    return hf_run(make, B_T + B_M, n)


def hf_bads(pb: Problem, n: int) -> list[float]:
    from bayes_dps.integrations.hf_trainer import BADSTrainer

    model = pb.model()
    make = lambda a: BADSTrainer(  # noqa: E731
        model=model, args=a, train_dataset=pb.dict_train, meta_dataset=pb.dict_meta,
        meta_batch_size=B_M, optimizers=sgd(model), sampler=pb.sampler(model), theta="sgld",
    )  # fmt: skip
    return hf_run(make, B_T, n)


# --- Lightning ---------------------------------------------------------------------------------


def lightning_run(module, loader, n: int) -> list[float]:
    import lightning as L

    ends: list[float] = []

    class StepEnds(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            ends.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as out:
        trainer = L.Trainer(
            max_steps=n, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, default_root_dir=out,
            use_distributed_sampler=False, callbacks=[StepEnds()], log_every_n_steps=50,
        )  # fmt: skip
        trainer.fit(module, loader)
    return ends


def lightning_plain_module(model, optimizer):
    import lightning as L

    class Plain(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def training_step(self, batch, batch_idx):
            x, y = batch
            return F.cross_entropy(self.model(x), y)

        def configure_optimizers(self):
            return optimizer(self.model.parameters())

    return Plain()


def lightning_online_plain(pb: Problem, n: int) -> list[float]:
    loader = torch.utils.data.DataLoader(pb.pairs, batch_size=N_SMALL, shuffle=True, drop_last=True)
    opt = lambda p: torch.optim.AdamW(p, lr=1e-3)  # noqa: E731
    return lightning_run(lightning_plain_module(pb.model(), opt), loader, n)


def lightning_online(pb: Problem, n: int) -> list[float]:
    from bayes_dps.integrations.lightning import OnlineSelectionModule

    model = pb.model()
    module = OnlineSelectionModule(model, pb.selector(model, "bayesian"), n_b=N_SMALL,
                                   optimizer=lambda p: torch.optim.AdamW(p, lr=1e-3))  # fmt: skip
    return lightning_run(module, BigBatchLoader(pb.splits.train, N_BIG, seed=0), n)


def lightning_bads_plain(pb: Problem, n: int) -> list[float]:
    loader = torch.utils.data.DataLoader(pb.pairs, batch_size=B_T + B_M, shuffle=True,
                                         drop_last=True)  # fmt: skip
    opt = lambda p: torch.optim.SGD(p, lr=1e-3)  # noqa: E731
    return lightning_run(lightning_plain_module(pb.model(), opt), loader, n)


def lightning_bads(pb: Problem, n: int) -> list[float]:
    from bayes_dps.integrations.lightning import BADSModule

    model = pb.model()
    meta = BigBatchLoader(pb.splits.meta, B_M, seed=1)
    module = BADSModule(model, pb.sampler(model), meta, theta="sgld")
    return lightning_run(module, BigBatchLoader(pb.splits.train, B_T, seed=0), n)


VARIANTS: dict[str, dict[str, Callable[[Problem, int], list[float]]]] = {
    "online": {
        "own_uniform": lambda pb, n: own_online(pb, "uniform", n),
        "own_bayesian": lambda pb, n: own_online(pb, "bayesian", n),
        "loop_bayesian": loop_online,
        "hf_plain": hf_online_plain,
        "hf_bayesian": hf_online,
        "lightning_plain": lightning_online_plain,
        "lightning_bayesian": lightning_online,
    },
    "bads": {
        "own_plain": own_bads_plain,
        "own_bads": own_bads,
        "loop_bads": loop_bads,
        "hf_plain": hf_bads_plain,
        "hf_bads": hf_bads,
        "lightning_plain": lightning_bads_plain,
        "lightning_bads": lightning_bads,
    },
}


def ratios(med: dict[str, float], method: str, plain: str) -> dict[str, float]:
    """The ratios of one method's medians (module docstring)."""
    own = med[f"own_{method}"] / med[f"own_{plain}"]
    out = {f"own_{method}_over_own_{plain}": own}
    for t in ("hf", "lightning"):
        inside = med[f"{t}_{method}"] / med[f"{t}_plain"]
        out[f"{t}_{method}_over_{t}_plain"] = inside
        out[f"{t}_ratio_over_own_ratio"] = inside / own
        out[f"{t}_{method}_over_own_{method}"] = med[f"{t}_{method}"] / med[f"own_{method}"]
    out[f"loop_{method}_over_own_{method}"] = med[f"loop_{method}"] / med[f"own_{method}"]
    return out


def quiet() -> None:
    """The trainers' banners and warnings off: only the numbers print."""
    import lightning  # noqa: F401  (its loggers set their level on import)
    import transformers

    transformers.logging.set_verbosity_error()
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def main(argv=None) -> dict:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    quiet()
    pb = Problem()
    result: dict = {}
    for kind in args.methods.split(","):
        variants = VARIANTS[kind]
        runs: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.repeats):  # round-robin: drift hits every variant alike
            for name, run in variants.items():
                ends = run(pb, args.warmup + args.steps + 1)
                runs[name].append(intervals(ends, args.warmup))
        med = {name: statistics.median(v) for name, v in runs.items()}
        method, plain = ("bayesian", "uniform") if kind == "online" else ("bads", "plain")
        result[kind] = {**ratios(med, method, plain),
                        "median_ms": {k: 1e3 * v for k, v in med.items()}}  # fmt: skip
    result["setup"] = {"model": "mlp", "data": "digits", "n_B": N_BIG, "n_b": N_SMALL,
                       "B_t": B_T, "B_m": B_M, "threads": args.threads,
                       "repeats": args.repeats, "steps": args.steps}  # fmt: skip
    result["provenance"] = {"git_commit": git_commit()}
    print(json.dumps(result, indent=2))
    atomic_write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
