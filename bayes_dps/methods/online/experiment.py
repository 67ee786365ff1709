"""Online-selection experiments: every method × seed of a config, results per the contract in
``docs/contracts.md``.

Each finished (method, seed) run is saved as ``runs/<method>/seed<seed>.json`` (with a CSV of
its per-epoch metrics); a run in progress checkpoints to ``checkpoints/<method>_seed<seed>.pt``
after every epoch. With ``resume=True`` finished runs are read back and the interrupted one
continues from its checkpoint, so a killed experiment completes to the same ``results.json``.
``results.json`` itself is written once, atomically, after the last run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bayes_dps.data.batches import BatchStream
from bayes_dps.data.splits import DataSplits
from bayes_dps.errors import ConfigError, DataError
from bayes_dps.methods.online.data_filters import DATA_FILTERS
from bayes_dps.methods.online.loop import OnlineSelectionEpoch
from bayes_dps.methods.online.predictor_check import PredictorCheck
from bayes_dps.methods.online.predictor_factory import PredictorFactory
from bayes_dps.models.registry import build_model
from bayes_dps.runs.metrics_log import metrics_log_for
from bayes_dps.runs.seeds import run_seeds
from bayes_dps.runs.session import session
from bayes_dps.runs.summary import epochs_to_target, mean_std, seconds_to_target
from bayes_dps.selection.predictors import Predictor
from bayes_dps.selection.predictors.cached import CachedLogits
from bayes_dps.selection.registry import RULES, build_rule, data_filter_for, predictor_for
from bayes_dps.selection.uniform import UniformSelection
from bayes_dps.tasks.metrics import evaluate
from bayes_dps.training.devices import channels_last, resolve_device
from bayes_dps.training.fit import epochs_within
from bayes_dps.training.optim import build_optimizer
from bayes_dps.training.precision import autocast_for
from bayes_dps.training.seeding import seed_everything
from bayes_dps.training.trainer import Trainer

ONLINE_SCALARS = (
    "setup_seconds",
    "final_acc",
    "final_balanced_acc",
    "selected_noisy_fraction",
    "selected_redundant_fraction",
    "seconds_per_epoch",
)


def online_run_record(seed: int, history: list[dict[str, Any]], targets: list[float]) -> dict:
    """The per-seed RUN of ``results.json`` from a trainer's per-epoch history."""
    acc = [h["test"]["acc"] for h in history]
    seconds = [h["seconds"] for h in history]
    selected = sum(h["selected"] for h in history)
    return {
        "seed": seed,
        "test_acc": acc,
        "test_balanced_acc": [h["test"]["balanced_acc"] for h in history],
        "epochs_to_target": epochs_to_target(acc, targets),
        "seconds_to_target": seconds_to_target(acc, seconds, targets),
        "final_acc": acc[-1],
        "final_balanced_acc": history[-1]["test"]["balanced_acc"],
        "selected_noisy_fraction": sum(h["selected_noisy"] for h in history) / max(selected, 1),
        "selected_redundant_fraction": sum(h["selected_redundant"] for h in history)
        / max(selected, 1),
        "selected_noisy_per_epoch": [h["selected_noisy"] / max(h["selected"], 1) for h in history],
        "selected_redundant_per_epoch": [
            h["selected_redundant"] / max(h["selected"], 1) for h in history
        ],
        "seconds_per_epoch": float(np.mean(seconds)),
        "epoch_seconds": seconds,
        **profile_record(history),
        **(
            {"score_terms": [h.get("score_terms") for h in history]}
            if any("score_terms" in h for h in history)
            else {}
        ),
    }


def end_to_end(record: dict[str, Any], setup_seconds: float) -> dict[str, Any]:
    """``record`` with the method's ``setup_seconds`` (its predictor's training and logit
    table, cleanlab's folds) and ``end_to_end_seconds_to_target`` = set-up + training seconds
    to each target (``None`` where not reached)."""
    return {
        **record,
        "setup_seconds": setup_seconds,
        "end_to_end_seconds_to_target": {
            t: None if s is None else s + setup_seconds
            for t, s in record["seconds_to_target"].items()
        },
    }


def profile_record(history: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"profile": {phase: ms per step}}`` when the epochs were profiled, else nothing."""
    phases: dict[str, float] = {}
    steps = 0
    for h in history:
        if "profile" in h:
            steps += h["steps"]
            for phase, sec in h["profile"].items():
                phases[phase] = phases.get(phase, 0.0) + sec
    if not phases:
        return {}
    return {"profile": {k: 1e3 * v / max(steps, 1) for k, v in phases.items()}}


def online_summary(runs: list[dict], targets: list[float]) -> dict[str, Any]:
    """Means and standard deviations over seeds (``*_to_target`` over seeds reaching it)."""
    out: dict[str, Any] = {k: mean_std([r[k] for r in runs]) for k in ONLINE_SCALARS}
    for key in ("epochs_to_target", "seconds_to_target", "end_to_end_seconds_to_target"):
        out[key] = {f"{t:.2f}": mean_std([r[key][f"{t:.2f}"] for r in runs]) for t in targets}
    return out


def check_online_config(cfg: dict[str, Any]) -> None:
    unknown = [m for m in cfg["methods"] if m not in RULES]
    if unknown:
        raise ConfigError(
            f"unknown online method(s) {unknown}; available: {', '.join(sorted(RULES))}"
        )


def check_online_data(cfg: dict[str, Any], splits: DataSplits) -> None:
    """The config against the loaded data, before anything trains or is written: a big batch
    fits in the training set, and the methods that need the holdout model have a holdout
    set."""
    if cfg["n_B"] > len(splits.train):
        raise ConfigError(
            f"n_B={cfg['n_B']} exceeds the {len(splits.train)} training points of "
            f"{splits.name}; lower n_B (and n_b)"
        )
    kinds = {predictor_for(m) for m in cfg["methods"]}
    if "zero_shot" in kinds and cfg["zero_shot"]["name"] == "holdout":
        kinds.add("holdout")
    if "holdout" in kinds and (splits.meta is None or len(splits.meta) == 0):
        raise DataError(
            f"methods {cfg['methods']} need a holdout model, but the data have no holdout / "
            "meta set: set dataset.meta_per_class > 0 (or provide x_meta/y_meta in the .npz "
            "file)"
        )
    if "zero_shot" in kinds and cfg["zero_shot"]["name"] == "cached":
        # a file from elsewhere: read and checked now, before the run folder is taken
        CachedLogits.load(cfg["zero_shot"]["cache_path"], splits.train)


def train_online_run(
    cfg: dict[str, Any],
    splits: DataSplits,
    method: str,
    seed: int,
    *,
    predictors: dict[str, Predictor] | None = None,
    checkpoint_path: Path | None = None,
    resume: bool = False,
    fingerprint: str | None = None,
    metrics_log: Callable[[list[dict[str, Any]]], None] | None = None,
    predictor_quality: dict[str, float] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train one (method, seed) of an online config; returns its RUN record.
    ``predictor_quality``: the rule's predictor's cross-fitted quality, for the predictor
    check (``None``: no check)."""
    device = resolve_device(cfg["device"])
    seed_everything(seed)
    model = build_model(
        cfg["model"], splits.input_shape, splits.num_classes, cfg["model_options"]
    ).to(device)
    fast = channels_last(model, device)
    optimizer = build_optimizer(model.parameters(), cfg["optimizer"])
    scaler = torch.amp.GradScaler(device.type) if cfg["precision"] == "16-mixed" else None
    rule = build_rule(
        method,
        predictors=predictors,
        num_classes=splits.num_classes,
        seed=seed,
        config=cfg,
        feature_dim=model.feature_dim,
        device=device,
    )
    stream = BatchStream(
        splits.train, cfg["n_B"], seed=seed, device=device, num_workers=cfg["num_workers"],
        channels_last=fast,
    )  # fmt: skip
    test = BatchStream.sequential(
        splits.test,
        cfg["eval_batch_size"],
        device=device,
        num_workers=cfg["num_workers"],
    )
    per_epoch = min(len(stream), cfg.get("max_steps_per_epoch") or len(stream))
    check = None
    spec = cfg["predictor_check"]
    if predictor_quality is not None and spec["enabled"]:
        fallback = UniformSelection(seed=seed) if spec["fallback"] == "uniform" else None
        check = PredictorCheck(
            splits.meta, predictor_quality, fallback, device, log=log, z=spec["z"],
            epochs=cfg["epochs"], window=spec["window"],
        )  # fmt: skip
    step = OnlineSelectionEpoch(
        model,
        optimizer,
        stream,
        rule,
        cfg["n_b"],
        splits.train.is_noisy,
        max_steps=per_epoch,
        step_limit=cfg.get("step_limit"),
        autocast=autocast_for(cfg["precision"], device),
        scaler=scaler,
        profile=cfg["profile"],
        check=check,
    )
    trainer = Trainer(
        model,
        optimizer,
        step,
        evaluate=lambda: evaluate(model, test, splits.num_classes),
        epochs=epochs_within(cfg["epochs"], per_epoch, cfg.get("step_limit")),
        device=device,
        checkpoint_path=checkpoint_path,
        progress=cfg["progress"],
        desc=f"{method} seed {seed}",
        fingerprint=fingerprint,
        on_epoch_end=metrics_log,
    )
    history = trainer.fit(resume=resume)
    record = online_run_record(seed, history, cfg["targets"])
    if check is not None:
        record["predictor_check"] = [h.get("predictor_check") for h in history]
        record["predictor_check_fired_at_epoch"] = history[-1]["predictor_check"]["fired_at_epoch"]
    return record


def run_online_experiment(
    cfg: dict[str, Any],
    out_dir: str | Path,
    *,
    resume: bool = False,
    extend: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every method × seed of ``cfg``; writes ``results.json`` in ``out_dir`` and returns it."""
    check_online_config(cfg)
    out = Path(out_dir)
    checks = lambda task: check_online_data(cfg, task.splits)  # noqa: E731
    with session(cfg, out, "online", resume=resume, extend=extend, log=log, checks=checks) as s:
        log = s.log  # silent on processes other than rank 0
        splits = s.splits
        log(
            f"data: {splits.name} {splits.sizes()}, {splits.num_classes} classes, "
            f"{int(splits.train.is_noisy.sum())} noisy training labels"
        )
        factory = PredictorFactory(
            cfg, splits, s.device, cfg["cache_dir"] or out / "cache", log=log
        )
        # every predictor is built before any training, so a missing meta set or CLIP file
        # fails fast
        needs = {m: predictor_for(m) for m in cfg["methods"]}
        predictors = {kind: factory.get(kind) for kind in set(needs.values()) if kind is not None}
        qualities = (
            {m: factory.quality(kind) for m, kind in needs.items() if kind is not None}
            if cfg["predictor_check"]["enabled"]
            else {}
        )
        methods: dict[str, Any] = {}
        for method in cfg["methods"]:

            def train(seed: int, ckpt: Path | None, method: str = method) -> dict[str, Any]:
                run_splits, setup = splits, factory.setup_seconds.get(needs[method], 0.0)
                dropped, data_filter = None, data_filter_for(method)
                if data_filter:
                    start = time.perf_counter()
                    run_splits, dropped = DATA_FILTERS[data_filter](cfg, splits, seed, s.device)
                    setup += time.perf_counter() - start
                    log(run_splits.notes[-1])
                with metrics_log_for(cfg, out, method, seed) as logger:
                    record = train_online_run(
                        cfg, run_splits, method, seed, predictors=predictors,
                        checkpoint_path=ckpt, resume=resume, fingerprint=s.fingerprint,
                        metrics_log=logger, predictor_quality=qualities.get(method), log=log,
                    )  # fmt: skip
                record = end_to_end(record, setup)
                return record if dropped is None else {**record, "data_filter": dropped}

            runs = run_seeds(
                out,
                method,
                cfg["seeds"],
                train,
                fingerprint=s.fingerprint,
                checkpoint=cfg["checkpoint"],
                resume=resume,
                log=log,
                describe=lambda r: (
                    f"final acc {r['final_acc']:.4f}, epochs to target "
                    f"{r['epochs_to_target']}, {r['seconds_per_epoch']:.3f} s/epoch"
                ),
            )
            methods[method] = {"seeds": runs, "summary": online_summary(runs, cfg["targets"])}
        return s.write_results(
            {
                "config": cfg,
                "methods": methods,
                "predictors": {k: {"test_acc": v} for k, v in factory.test_accuracy.items()},
            }
        )
