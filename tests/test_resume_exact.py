"""Exact resume for every rule and kernel that carries state or randomness.

Each case trains one run uninterrupted, and once interrupted after two evaluations and then
resumed from its checkpoint with freshly built objects (and the global generators re-seeded,
as a new process would). The two final checkpoints — network, optimiser, the rule's posterior
and generators, the sampler's ``w``, kernel state (pSGLD preconditioner, SGHMC momentum),
weight network, trace, every global RNG state — and the two records must be identical, bit
for bit. A resume path that forgets any of them diverges here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bayes_dps.config import load_config
from bayes_dps.data import load_data
from bayes_dps.errors import ConfigError
from bayes_dps.methods.bads.experiment import train_bads_run
from bayes_dps.methods.online.experiment import train_online_run
from bayes_dps.methods.online.predictor_factory import PredictorFactory
from bayes_dps.training.checkpoint import load_checkpoint, save_checkpoint

ONLINE = [
    "dataset.noise=0.2", "dataset.meta_per_class=5", "model=mlp",
    "model_options={hidden: [16], dropout: 0.1}",  # dropout draws from the global generator
    "n_B=64", "n_b=8", "epochs=4", "max_steps_per_epoch=3", "bayesian.num_samples=10",
    "zero_shot.name=holdout", "holdout.epochs=2", "svp.epochs=1", "device=cpu",
    "progress=false",
]  # fmt: skip
BADS = [
    "dataset.noise=0.3", "dataset.meta_per_class=3", "model=mlp",
    "model_options={hidden: [16], dropout: 0.1}",
    "steps=40", "eval_every=10", "batch_size=16", "meta_batch_size=8", "bads.s_avg=15",
    "bads.thin=3", "bads.weight_net_warmup=5", "bads.eta_w=0.5", "bads.temperature=0.01",
    "contrastive.base_steps=10", "contrastive.finetune_steps=5", "device=cpu", "progress=false",
    "bads.normaliser_window=4", "bads.normaliser_every=3",
]  # fmt: skip


class Interrupt(Exception):
    pass


def stop_after(evaluations: int):
    def callback(history):
        if len(history) == evaluations:
            raise Interrupt

    return callback


def assert_identical(a, b, where="state"):
    """Recursive bit-for-bit equality (wall-clock fields excepted)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype, where
        assert torch.equal(a, b), f"{where} differs"
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        clock = {"seconds", "epoch_seconds", "seconds_per_epoch", "seconds_per_step",
                 "setup_seconds"}  # fmt: skip
        keys = set(a) - clock
        assert keys == set(b) - clock, where
        for k in keys:
            if k in ("seconds_to_target",):
                continue
            assert_identical(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_identical(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.fixture(scope="module")
def online_setup(tmp_path_factory):
    cfg = load_config(None, ONLINE, "online")
    splits = load_data(cfg["dataset"])
    cache = tmp_path_factory.mktemp("cache")
    factory = PredictorFactory(cfg, splits, torch.device("cpu"), cache, log=lambda _: None)
    predictors = {k: factory.get(k) for k in ("zero_shot", "holdout", "proxy")}
    return cfg, splits, predictors


@pytest.mark.parametrize("rule", ["bayesian", "bayesian_mc", "uniform", "grad_norm_is", "svp"])
def test_online_rule_resumes_exactly(online_setup, tmp_path, rule):
    cfg, splits, predictors = online_setup
    if rule == "bayesian_mc":  # the Monte-Carlo estimator: its generator must be restored too
        rule, cfg = "bayesian", {**cfg, "bayesian": {**cfg["bayesian"], "estimator": "mc"}}

    def train(ckpt: Path, resume: bool = False, log=None):
        return train_online_run(
            cfg, splits, rule, 3, predictors=predictors, checkpoint_path=ckpt, resume=resume,
            fingerprint="f", metrics_log=log,
        )  # fmt: skip

    ref = train(tmp_path / "ref.pt")
    with pytest.raises(Interrupt):
        train(tmp_path / "cut.pt", log=stop_after(2))
    torch.manual_seed(12345)  # a new process would not share the killed one's generators
    again = train(tmp_path / "cut.pt", resume=True)
    assert_identical(ref, again, "record")
    assert_identical(
        torch.load(tmp_path / "ref.pt", weights_only=False),
        torch.load(tmp_path / "cut.pt", weights_only=False),
        "checkpoint",
    )


BADS_CASES = {
    "sgld": ("bads", "sgld"),
    "psgld": ("bads", "psgld"),
    "sghmc": ("bads", "sghmc"),
    "gibbs": ("bads", "gibbs"),
    "weightnet": ("bads_weightnet", "sgld"),
    "chain": ("bads_chain", "psgld"),  # the normaliser's auxiliary chain, its window, thinning
    "chain_gibbs": ("bads_chain", "gibbs"),
    "blo": ("blo", "sgld"),
    "mwn": ("mwn", "sgld"),  # the weight network, its Adam state, the latest weights
    "resample": ("resample", "sgld"),  # class-balanced draws seeded by (seed, epoch)
    "contrastive": ("contrastive", "sgld"),
}


@pytest.fixture(scope="module")
def bads_splits():
    cfg = load_config(None, BADS, "bads")
    return load_data(cfg["dataset"])


@pytest.mark.parametrize("case", sorted(BADS_CASES))
def test_bads_method_resumes_exactly(bads_splits, tmp_path, case):
    method, kernel = BADS_CASES[case]
    cfg = load_config(None, [*BADS, f"bads.kernel={kernel}", f"methods=[{method}]"], "bads")

    def train(ckpt: Path, resume: bool = False, log=None):
        return train_bads_run(
            cfg, bads_splits, method, 2, checkpoint_path=ckpt, resume=resume, fingerprint="f",
            metrics_log=log,
        )  # fmt: skip

    ref, ref_recorder = train(tmp_path / "ref.pt")
    with pytest.raises(Interrupt):
        train(tmp_path / "cut.pt", log=stop_after(2))
    torch.manual_seed(12345)
    again, recorder = train(tmp_path / "cut.pt", resume=True)
    assert_identical(ref, again, "record")
    assert_identical(
        torch.load(tmp_path / "ref.pt", weights_only=False),
        torch.load(tmp_path / "cut.pt", weights_only=False),
        "checkpoint",
    )
    if ref_recorder is not None:
        assert_identical(ref_recorder.trace, recorder.trace, "trace")


def test_a_bads_checkpoint_of_the_old_layout_is_refused_with_what_changed(bads_splits, tmp_path):
    """bayes-dps 0.2 kept one sampler state (``w``, ``kernel``, ``w_kernel``, ...); 0.3 keeps
    one per move. Resuming an old checkpoint is refused, naming the file and what to do."""
    cfg = load_config(None, [*BADS, "methods=[bads]"], "bads")
    ckpt = tmp_path / "old.pt"
    with pytest.raises(Interrupt):
        train_bads_run(
            cfg, bads_splits, "bads", 0, checkpoint_path=ckpt, fingerprint="f",
            metrics_log=stop_after(1),
        )  # fmt: skip
    state = load_checkpoint(ckpt)
    sampler = state["epoch_step"]["sampler"]
    state["epoch_step"]["sampler"] = {  # the 0.2 layout
        "w": sampler["weights"]["w"], "num_steps": sampler["num_steps"], "kernel": {},
        "w_kernel": {}, "generator": sampler["generators"]["theta"],
        "recorder": sampler["recorder"],
    }  # fmt: skip
    ckpt.unlink()
    save_checkpoint(ckpt, state)  # a whole, verified file: only its layout is old
    with pytest.raises(ConfigError, match=r"old.pt: this BADS sampler state was written by"):
        train_bads_run(cfg, bads_splits, "bads", 0, checkpoint_path=ckpt, resume=True,
                       fingerprint="f")  # fmt: skip
