"""Building the predictors that online selection rules need, once per experiment.

* ``holdout`` — RHO-LOSS's irreducible-loss model: a network trained on the curated meta /
  holdout split, saved in the cache folder and reused by every method and seed (and by later
  runs with the same cache folder).
* ``zero_shot`` — ``f̃`` of Eq. 10: ``openclip`` (CLIP zero-shot), ``holdout`` (the model above:
  the paper's "Proposed†", Table 5) or ``cached`` (a logit table from ``zero_shot.cache_path``).
* ``proxy`` — SVP's small proxy, trained on ``D_t``.

With ``cache: true`` (default) a predictor's logits on the training set are computed once (no
augmentation) and stored under a key of the dataset fingerprint and the predictor's settings;
steps then look logits up by index instead of running the predictor.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bayes_dps import distributed as dist
from bayes_dps.data.batches import BatchStream
from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.data.fingerprint import dataset_fingerprint
from bayes_dps.data.splits import DataSplits
from bayes_dps.errors import ConfigError, DataError
from bayes_dps.input_files import read_state_dict
from bayes_dps.io import atomic_torch_save, atomic_write_bytes
from bayes_dps.methods.online.predictor_check import cross_fitted_quality
from bayes_dps.models.base import FeatureHeadModel
from bayes_dps.models.registry import build_model
from bayes_dps.selection.predictors import (
    CachedLogits,
    ModelPredictor,
    OpenCLIPZeroShot,
    Predictor,
    compute_logit_table,
)
from bayes_dps.tasks.metrics import evaluate
from bayes_dps.training.fit import fit_classifier

ZERO_SHOT_KINDS = ("openclip", "holdout", "cached")


def _rgb(values: tuple[float, ...]) -> tuple[float, ...]:
    """Per-channel statistics for 3 channels (grey images are expanded to RGB)."""
    return tuple(values) * 3 if len(values) == 1 else tuple(values)


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _seconds_path(path: Path) -> Path:
    """Where the seconds that building the cached file ``path`` took are kept."""
    return path.with_name(path.name + ".seconds.json")


def built_seconds(path: Path, seconds: float | None = None) -> float:
    """Record (``seconds`` given) or read the time that building ``path`` took, so that a run
    reusing a cached predictor still reports the set-up cost of building it (0 if unknown)."""
    side = _seconds_path(path)
    if seconds is not None:
        if dist.is_main():
            atomic_write_bytes(side, json.dumps({"seconds": seconds}).encode())
        return seconds
    return float(json.loads(side.read_text())["seconds"]) if side.is_file() else 0.0


def _cached_table(
    predictor: Predictor, train: IndexedDataset, path: Path, device: torch.device, workers: int
) -> tuple[CachedLogits, float]:
    """The logit table of ``predictor`` on ``train`` (from ``path`` when cached) and the
    seconds computing it took."""
    if path.is_file():
        return CachedLogits.load(path, train).to(device), built_seconds(path)
    start = time.perf_counter()
    table = compute_logit_table(predictor, train, device=device, num_workers=workers)
    seconds = time.perf_counter() - start
    if dist.is_main():  # every process computed the same table; one writes it
        table.save(path)
    return table.to(device), built_seconds(path, seconds)


class PredictorFactory:
    """Builds (and memoises) the predictors an online experiment's methods need."""

    def __init__(
        self,
        cfg: dict[str, Any],
        splits: DataSplits,
        device: torch.device,
        cache_dir: str | Path,
        log: Callable[[str], None] = print,
    ) -> None:
        self.cfg, self.splits, self.device = cfg, splits, device
        self.cache_dir = Path(cache_dir)
        self.log = log
        self.workers = int(cfg.get("num_workers", 0))
        self.step_limit = cfg.get("step_limit")
        self._built: dict[str, Predictor] = {}
        self._holdout_model: FeatureHeadModel | None = None
        self.test_accuracy: dict[str, float] = {}
        self._quality: dict[str, dict[str, float]] = {}
        #: seconds building each predictor kind took from scratch (training the holdout model,
        #: computing logit tables; read back from the cache folder when reused): the set-up
        #: cost of the methods that use it
        self.setup_seconds: dict[str, float] = {}

    def get(self, kind: str) -> Predictor:
        if kind not in self._built:
            builder = {"holdout": self._holdout, "zero_shot": self._zero_shot, "proxy": self._proxy}
            if kind not in builder:
                raise ConfigError(f"unknown predictor kind {kind!r}")
            self._built[kind] = builder[kind]()
        return self._built[kind]

    def _add_seconds(self, kind: str, seconds: float) -> None:
        self.setup_seconds[kind] = self.setup_seconds.get(kind, 0.0) + seconds

    # ------------------------------------------------------------------ holdout
    def holdout_model(self) -> FeatureHeadModel:
        if self._holdout_model is not None:
            return self._holdout_model
        meta = self.splits.meta
        if meta is None or len(meta) == 0:
            raise DataError(
                "this method needs a curated holdout / meta set but the data have none: set "
                "dataset.meta_per_class > 0 or provide x_meta/y_meta in the .npz file"
            )
        spec, name, options = self._holdout_settings()
        key = _key("holdout", name, options, spec, self.step_limit, dataset_fingerprint(meta))
        path = self.cache_dir / f"holdout-model-{key}.pt"
        model = build_model(name, tuple(meta[0][0].shape), meta.num_classes, options).to(
            self.device
        )
        if path.is_file():
            fix = "delete it (the holdout model is trained again)"
            model.load_state_dict(read_state_dict(path, "cached holdout model", fix))
            self.log(f"holdout model: reusing {path}")
            self._add_seconds("holdout", built_seconds(path))
        else:
            start = time.perf_counter()
            model = fit_classifier(
                meta,
                spec,
                model_name=name,
                model_options=options,
                device=self.device,
                num_workers=self.workers,
                step_limit=self.step_limit,
            )
            state = {k: v.cpu() for k, v in model.state_dict().items()}
            if dist.is_main():
                atomic_torch_save(path, state)
            self._add_seconds("holdout", built_seconds(path, time.perf_counter() - start))
        self._holdout_model = model.eval()
        acc = self._test_accuracy(ModelPredictor(model, "holdout"))
        self.test_accuracy["holdout"] = acc
        self.log(f"holdout model trained on {len(meta)} meta points: test accuracy {acc:.4f}")
        return self._holdout_model

    def _holdout_settings(self) -> tuple[dict[str, Any], str, dict[str, Any]]:
        spec = self.cfg["holdout"]
        name = spec.get("model") or "auto"
        name = self.cfg["model"] if name == "auto" else name
        options = spec.get("model_options") or (
            self.cfg["model_options"] if name == self.cfg["model"] else {}
        )
        return spec, name, options

    def quality(self, kind: str) -> dict[str, float] | None:
        """How well predictor ``kind`` judges labels it was not fitted to (see
        ``predictor_check``), cross-fitted on the curated set; ``None`` for predictors not
        trained on it (CLIP, a logit table: the check does not cover them) or without one."""
        meta = self.splits.meta
        holdout = kind == "holdout" or (
            kind == "zero_shot" and self.cfg["zero_shot"]["name"] == "holdout"
        )
        if not holdout or meta is None or len(meta) < 4:
            return None
        if "holdout" not in self._quality:
            spec, name, options = self._holdout_settings()
            key = _key("crossfit", name, options, spec, self.step_limit, dataset_fingerprint(meta))
            path = self.cache_dir / f"holdout-crossfit-{key}.json"

            if path.is_file():  # reused like the holdout model (a sweep, a resume, a rerun)
                self._quality["holdout"] = json.loads(path.read_text())
            else:

                def fit(data: IndexedDataset) -> FeatureHeadModel:
                    return fit_classifier(
                        data, spec, model_name=name, model_options=options, device=self.device,
                        num_workers=self.workers, step_limit=self.step_limit,
                    )  # fmt: skip

                self._quality["holdout"] = cross_fitted_quality(meta, fit, self.device)
                if dist.is_main():
                    atomic_write_bytes(path, json.dumps(self._quality["holdout"]).encode())
            q = self._quality["holdout"]
            self.log(
                f"holdout predictor, cross-fitted on the curated set: accuracy {q['acc']:.3f}, "
                f"NLL {q['nll']:.3f}, ECE {q['ece']:.3f}"
            )
        return self._quality["holdout"]

    def _holdout(self) -> Predictor:
        model = self.holdout_model()
        predictor = ModelPredictor(model, "holdout")
        if not self.cfg["holdout"].get("cache", True):
            return predictor
        key = _key(
            "holdout-logits",
            self.cfg["holdout"],
            self.step_limit,
            dataset_fingerprint(self.splits.meta),
        )
        table, seconds = _cached_table(
            predictor,
            self.splits.train,
            self.cache_dir / f"holdout-{key}.pt",
            self.device,
            self.workers,
        )
        self._add_seconds("holdout", seconds)
        return table

    # ---------------------------------------------------------------- zero-shot
    def _zero_shot(self) -> Predictor:
        spec = self.cfg["zero_shot"]
        kind = spec.get("name", "openclip")
        if kind not in ZERO_SHOT_KINDS:
            raise ConfigError(f"zero_shot.name must be one of {ZERO_SHOT_KINDS}, got {kind!r}")
        if kind == "holdout":
            predictor = self.get("holdout")
            self.setup_seconds["zero_shot"] = self.setup_seconds.get("holdout", 0.0)
            return predictor
        if kind == "cached":
            if not spec.get("cache_path"):
                raise ConfigError("zero_shot.name=cached needs zero_shot.cache_path (a .pt file)")
            return CachedLogits.load(spec["cache_path"], self.splits.train).to(self.device)
        classnames = spec.get("classnames") or self.splits.classes
        mean, std = self.splits.normalization or ((0.0,), (1.0,))
        predictor = OpenCLIPZeroShot.create(
            classnames,
            arch=spec.get("arch", "RN50"),
            pretrained=spec.get("pretrained", "openai"),
            checkpoint=spec.get("checkpoint"),
            device=self.device,
            temperature=spec.get("temperature", 0.01),
            input_mean=_rgb(mean),
            input_std=_rgb(std),
        )
        predictor.check_classes(self.splits.num_classes)
        acc = self._test_accuracy(predictor)
        self.test_accuracy["zero_shot"] = acc
        self.log(f"zero-shot predictor {spec.get('arch', 'RN50')}: test accuracy {acc:.4f}")
        if not spec.get("cache", True):
            return predictor
        key = _key("openclip", {k: v for k, v in spec.items() if k != "cache_path"}, classnames)
        path = Path(spec.get("cache_path") or self.cache_dir / f"zero-shot-{key}.pt")
        table, seconds = _cached_table(
            predictor, self.splits.train, path, self.device, self.workers
        )
        self._add_seconds("zero_shot", seconds)
        return table

    # -------------------------------------------------------------------- proxy
    def _proxy(self) -> Predictor:
        spec = self.cfg["svp"]
        train = self.splits.train
        start = time.perf_counter()
        model = fit_classifier(
            train,
            spec,
            model_name=spec.get("model", "mlp"),
            model_options=spec.get("model_options") or {},
            device=self.device,
            num_workers=self.workers,
            step_limit=self.step_limit,
        )
        table = compute_logit_table(ModelPredictor(model, "svp proxy"), train, device=self.device)
        self._add_seconds("proxy", time.perf_counter() - start)
        return table.to(self.device)

    def _test_accuracy(self, predictor: Predictor) -> float:
        stream = BatchStream.sequential(
            self.splits.test,
            256,
            device=self.device,
            num_workers=self.workers,
        )
        return evaluate(predictor.logits, stream, self.splits.num_classes)["acc"]
