"""BADS experiments: every method × seed of a config, results as docs/contracts.md states.

A RUN records ``seed``, ``eval_steps``, ``test_metric``, ``final_metric``, ``group_weights``
(mean weight per scenario group at each evaluation; weight methods only), ``seconds_per_step``
and ``setup_seconds`` (the method's preparation before its first step: CDS's scoring models,
ClassAct's classifier, cleanlab's folds; near 0 for the others). Weight methods also export the
selected subset (top ``select_fraction`` of the running-average weights) with its indices, and
the thinned weight trace; the traces of all seeds become the chains of the run's ArviZ
posterior."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bayes_dps import distributed as dist
from bayes_dps.checks import memory_bytes
from bayes_dps.errors import ConfigError, DataError, NumericalError
from bayes_dps.inference.sgmcmc import KERNELS
from bayes_dps.inference.weight_trace import WeightRecorder, top_fraction
from bayes_dps.io import atomic_write_bytes, atomic_write_json
from bayes_dps.methods.bads.registry import (
    BADS_METHODS,
    METHODS,
    TWINS,
    WEIGHT_METHODS,
    RunContext,
    recorder_for,
    trace_settings,
)
from bayes_dps.models.priors import build_weight_prior
from bayes_dps.runs.metrics_log import metrics_log_for
from bayes_dps.runs.seeds import record_path, run_seeds
from bayes_dps.runs.session import session
from bayes_dps.runs.summary import mean_std
from bayes_dps.tasks import ClassificationTask, group_means
from bayes_dps.training.devices import resolve_device
from bayes_dps.training.seeding import seed_everything
from bayes_dps.training.trainer import Trainer


def check_bads_config(cfg: dict[str, Any], task) -> None:
    unknown = [m for m in cfg["methods"] if m not in BADS_METHODS]
    if unknown:
        raise ConfigError(f"unknown bads method(s) {unknown}; available: {', '.join(BADS_METHODS)}")
    if task.meta is None or len(task.meta) == 0:
        raise DataError(
            "BADS needs a curated meta set D_m but the data have none: set "
            "dataset.meta_per_class > 0 (or provide x_meta/y_meta in the .npz file)"
        )
    build_weight_prior(cfg["bads"]["prior"])  # bad prior parameters fail before any training
    if cfg["bads"]["kernel"] not in KERNELS:
        raise ConfigError(f"bads.kernel must be one of {KERNELS}, got {cfg['bads']['kernel']!r}")
    steps, every = step_plan(cfg)
    if steps % every:
        raise ConfigError(f"steps={steps} must be a multiple of eval_every={every}")
    check_trace_memory(cfg, len(task.train), steps)


def check_trace_memory(cfg: dict[str, Any], n_t: int, steps: int) -> None:
    """The weight traces a run keeps in memory (every weight method and seed, ``steps / thin``
    draws of up to ``trace_max_instances`` weights) fit in a quarter of the machine's memory."""
    b = cfg["bads"]
    runs = len(cfg["seeds"]) * sum(m in (*WEIGHT_METHODS, "blo", "mwn") for m in cfg["methods"])
    size = (steps // b["thin"] + 1) * min(n_t, b["trace_max_instances"]) * 4 * runs
    if size > memory_bytes() // 4:
        raise ConfigError(
            f"the weight traces would take {size / 2**30:.1f} GiB ({steps // b['thin'] + 1} "
            f"draws of {min(n_t, b['trace_max_instances'])} weights, {runs} chains): raise "
            f"bads.thin (now {b['thin']}) or lower bads.trace_max_instances"
        )


def step_plan(cfg: dict[str, Any]) -> tuple[int, int]:
    """``(steps, eval_every)`` of a run: the config's, or cut to at most ``step_limit`` steps
    (smoke tests) with an evaluation at least at the end."""
    steps, every, limit = cfg["steps"], cfg["eval_every"], cfg.get("step_limit")
    if limit is None or limit >= steps:
        return steps, every
    every = min(every, limit)
    return (limit // every) * every, every


def _task(cfg: dict[str, Any], data):
    """A task from loaded data (a :class:`DataSplits` becomes a classification task)."""
    return data if hasattr(data, "likelihood") else ClassificationTask(cfg, data)


def train_bads_run(
    cfg: dict[str, Any],
    data,
    method: str,
    seed: int,
    *,
    checkpoint_path: Path | None = None,
    resume: bool = False,
    fingerprint: str | None = None,
    metrics_log=None,
) -> tuple[dict[str, Any], WeightRecorder | None]:
    """One (method, seed) on ``data`` (a task, or classification ``DataSplits``); returns its
    RUN record and (weight methods) its recorder."""
    task = _task(cfg, data)
    device = resolve_device(cfg["device"])
    seed_everything(seed)
    steps, every = step_plan(cfg)
    model = task.build_model(device)
    masks = task.group_masks()
    run = RunContext(cfg, task, model, seed, device, steps, every, masks)
    start = time.perf_counter()
    setup = METHODS[method](run)  # a baseline's own preparation: scoring models, cleanlab folds
    setup_seconds = time.perf_counter() - start
    recorder, fixed_weights = setup.recorder, setup.fixed_weights
    trainer = Trainer(
        model,
        setup.optimizer,
        setup.step,
        evaluate=lambda: task.evaluate(model, device),
        epochs=steps // every,
        device=device,
        checkpoint_path=checkpoint_path,
        progress=cfg["progress"],
        desc=f"{method} seed {seed}",
        fingerprint=fingerprint,
        on_epoch_end=metrics_log,
    )
    stopped = None
    try:
        history = trainer.fit(resume=resume)
    except NumericalError as err:  # stop this chain, keep what was recorded
        history, stopped = trainer.history, str(err)
    if not history:
        raise NumericalError(f"{method} seed {seed} failed before its first evaluation: {stopped}")
    record = _record(cfg, seed, history, every)
    record["setup_seconds"] = setup_seconds
    if stopped:
        record["stopped"] = stopped
    if recorder is not None:
        names = list(history[0]["group_weights"])  # the same non-empty groups at every eval
        record["group_weights"] = {g: [h["group_weights"][g] for h in history] for g in names}
        if "group_drift" in history[0]:
            record["group_drift"] = {
                g: {k: [h["group_drift"][g][k] for h in history] for k in DRIFT_STATS}
                for g in history[0]["group_drift"]
            }
            record["group_contrast"] = group_contrast(record["group_drift"], task)
        avg = recorder.average
        record["final_group_weights"] = group_means(avg, masks)
        record["selected"] = top_fraction(avg, cfg["bads"]["select_fraction"])
    if fixed_weights is not None:
        final = group_means(fixed_weights, masks)
        record["group_weights"] = {g: [v] * len(history) for g, v in final.items()}
        record["final_group_weights"] = final
        record["selected"] = torch.nonzero(fixed_weights).flatten().tolist()
    return record, recorder


#: the per-group statistics of the weights' drift (``inference.bads.drift.GroupDrift``)
DRIFT_STATS = ("ll", "ll_aux", "drift", "drift_sd")


def group_contrast(drift: dict[str, dict[str, list]], task) -> dict[str, Any]:
    """The drift contrast the weights read, per evaluation block: the mean drift of the
    corrupted headline group minus that of the clean one (``noisy − clean``, ``minority −
    majority``, ``off_domain − in_domain``; ``None`` where a group was not visited). Its sign
    decides which group the weights rank up in that block (docs/methods.md, "What the weights
    can read"); it fades once ``θ`` (and ``θ'``) interpolate ``D_t``."""
    off, on = task.train.group_masks(task.group_kinds()[0])  # {clean name, corrupted name}
    a, b = drift[on]["drift"], drift[off]["drift"]
    return {
        "groups": [on, off],
        "drift": [None if x is None or y is None else x - y for x, y in zip(a, b, strict=True)],
    }


def _record(cfg: dict[str, Any], seed: int, history: list[dict[str, Any]], every: int) -> dict:
    """The RUN record's metrics: the test metric at every evaluation; for language runs with a
    validation split also the checkpoint chosen by validation next-token accuracy (the
    paper's selection) and its test metric."""
    metric = [h["test"][cfg["metric"]] for h in history]
    record: dict[str, Any] = {
        "seed": seed,
        "eval_steps": [h["epoch"] * every for h in history],
        "test_metric": metric,
        "final_metric": metric[-1],
        "group_weights": {},
        "seconds_per_step": float(sum(h["seconds"] for h in history) / (len(history) * every)),
    }
    if "val_token_acc" in history[0]["test"]:
        val = [h["test"]["val_token_acc"] for h in history]
        best = int(np.argmax(val))
        record.update(val_token_acc=val, selected_step=record["eval_steps"][best],
                      selected_metric=metric[best])  # fmt: skip
    return record


def bads_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "final_metric": mean_std([r["final_metric"] for r in runs]),
        "seconds_per_step": mean_std([r["seconds_per_step"] for r in runs]),
        "setup_seconds": mean_std([r.get("setup_seconds") for r in runs]),
    }
    if "selected_metric" in runs[0]:
        out["selected_metric"] = mean_std([r["selected_metric"] for r in runs])
    if runs[0].get("final_group_weights"):
        out["final_group_weights"] = {
            g: mean_std([r["final_group_weights"][g] for r in runs])
            for g in runs[0]["final_group_weights"]
        }
    return out


def weight_contributions(methods: dict[str, Any]) -> dict[str, Any]:
    """What the weights add: for each weight method run beside its fixed-weight twin, the
    per-seed difference of the final metric (method − twin, paired by seed) and its mean ± std
    over the seeds both ran."""
    out = {}
    for method, twin in TWINS.items():
        if method not in methods or twin not in methods:
            continue
        theirs = {r["seed"]: r["final_metric"] for r in methods[twin]["seeds"]}
        diffs = {
            r["seed"]: r["final_metric"] - theirs[r["seed"]]
            for r in methods[method]["seeds"]
            if r["seed"] in theirs
        }
        out[method] = {
            "twin": twin,
            "final_metric": mean_std(list(diffs.values())),
            "per_seed": diffs,
        }
    return out


def run_bads_experiment(
    cfg: dict[str, Any],
    out_dir: str | Path,
    *,
    resume: bool = False,
    extend: bool = False,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, Any], dict[str, list[np.ndarray]], dict[str, np.ndarray]]:
    """Every method × seed; writes ``results.json``. Returns it, the weight traces
    (``{method: [array (draw, instance) per seed]}``) and the traced ``instances`` with their
    ground-truth ``group`` names and per-chain sample ``stats`` (``{method: [{name: [...]}]}``)."""
    out = Path(out_dir)
    checks = lambda task: check_bads_config(cfg, task)  # noqa: E731
    with session(cfg, out, "bads", resume=resume, extend=extend, log=log, checks=checks) as s:
        return _run_methods(cfg, s.task, s, resume, log)


def _save_npy(path: Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array)
    atomic_write_bytes(path, buf.getvalue())


def _run_methods(cfg, task, s, resume, log):
    out, log = s.out, s.log  # silent on processes other than rank 0
    kinds = task.group_kinds()
    groups = kinds[0]
    masks = task.group_masks()
    headline = list(task.train.group_masks(groups))  # the groups tables and logs show
    shown = list(masks.items())[:12]
    log(
        f"data: {task.describe()}; groups by {' + '.join(kinds)}: "
        + ", ".join(f"{g} {int(m.sum())}" for g, m in shown)
        + (" …" if len(masks) > len(shown) else "")
    )
    methods: dict[str, Any] = {}
    traces: dict[str, list[np.ndarray]] = {}
    stats: dict[str, list[dict[str, list[float]]]] = {}

    def artefacts(method: str, seed: int) -> tuple[Path, Path]:
        return record_path(out, method, seed, ".trace.npy"), record_path(
            out, method, seed, ".stats.json"
        )

    def train(method: str, seed: int, ckpt: Path | None) -> dict[str, Any]:
        step_of = lambda r: r["epoch"] * every  # noqa: E731
        with metrics_log_for(cfg, out, method, seed, step_of=step_of) as logger:
            record, recorder = train_bads_run(
                cfg, task, method, seed, checkpoint_path=ckpt, resume=resume,
                fingerprint=s.fingerprint, metrics_log=logger,
            )  # fmt: skip
        if recorder is not None and method in WEIGHT_METHODS:
            trace_path, stats_path = artefacts(method, seed)
            trace = np.stack(recorder.trace)
            if dist.is_main():
                _save_npy(trace_path, trace)
                atomic_write_json(stats_path, recorder.stats)
            traces.setdefault(method, []).append(trace)
            stats.setdefault(method, []).append(recorder.stats)
        return record

    def reuse(method: str, seed: int) -> None:
        def read():
            trace_path, stats_path = artefacts(method, seed)
            if not trace_path.is_file():
                return None, None
            chain_stats = json.loads(stats_path.read_text()) if stats_path.is_file() else None
            return np.load(trace_path), chain_stats

        trace, chain_stats = dist.on_main(read)  # rank 0 reads, every process gets them
        if trace is not None:
            traces.setdefault(method, []).append(trace)
            if chain_stats is not None:
                stats.setdefault(method, []).append(chain_stats)

    def describe(record: dict[str, Any]) -> str:
        weights = record.get("final_group_weights") or {}
        shown = ", mean weights " + str({g: round(weights[g], 3) for g in headline if g in weights})
        return (
            f"final {cfg['metric']} {record['final_metric']:.4f}"
            + (shown if weights else "")
            + f", {record['seconds_per_step'] * 1e3:.1f} ms/step"
        )

    every = step_plan(cfg)[1]
    for method in cfg["methods"]:
        runs = run_seeds(
            out,
            method,
            cfg["seeds"],
            lambda seed, ckpt, method=method: train(method, seed, ckpt),
            fingerprint=s.fingerprint,
            checkpoint=cfg["checkpoint"],
            resume=resume,
            log=log,
            describe=describe,
            reuse=lambda seed, method=method: reuse(method, seed),
        )
        methods[method] = {"seeds": runs, "summary": bads_summary(runs)}
    results = s.write_results(
        {
            "config": cfg,
            "methods": methods,
            "groups": groups,
            "group_kinds": list(kinds),
            "headline_groups": headline,
            "weight_contribution": weight_contributions(methods),
        }
    )
    instances = recorder_for(cfg, len(task.train), step_plan(cfg)[0]).instances
    labels = np.empty(len(task.train), dtype=object)
    for g, m in task.train.group_masks(groups).items():  # the headline groups label instances
        labels[m] = g
    attrs = {
        "warmup_steps": trace_settings(cfg, step_plan(cfg)[0])["average_from"],
        "prior": json.dumps(cfg["bads"]["prior"]),
        "thin": cfg["bads"]["thin"],
    }
    traced = {"instances": instances, "group": labels[instances], "stats": stats, "attrs": attrs}
    return results, traces, traced
