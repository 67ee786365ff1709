"""No per-step host synchronisation in the training loops.

A CUDA-free check: a ``TorchFunctionMode`` counts every tensor → Python conversion
(``.item()``, ``int()``, ``float()``, ``bool()``, ``.tolist()``, ``.nonzero()``) while a loop
runs an epoch of ``k`` steps and one of ``3k`` steps. On a GPU each of these waits for the
device; a loop that reads a statistic back every step makes the second count larger. The
online loop, the BADS block (every kernel, the normaliser's auxiliary chain, the weight
network) and the plain minibatch loops must read back a fixed number of values per epoch.
"""

from __future__ import annotations

import pytest
import torch
from torch.overrides import TorchFunctionMode

from bayes_dps import BADSSampler, truncated_normal
from bayes_dps.data import BatchStream, load_data
from bayes_dps.inference import LastLayerKFACLaplace
from bayes_dps.inference.bads import default_weight_net
from bayes_dps.methods.bads.loop import BADSBlock
from bayes_dps.methods.online.loop import OnlineSelectionEpoch
from bayes_dps.models import build_model
from bayes_dps.selection import BayesianSelection, RhoLossSelection, UniformSelection
from bayes_dps.selection.grad_norm import GradNormISSelection
from bayes_dps.selection.predictors import CachedLogits
from bayes_dps.training import MinibatchEpoch

SYNCS = {"item", "__int__", "__float__", "__bool__", "__index__", "tolist", "nonzero"}


class CountSyncs(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in SYNCS:
            self.calls.append(func.__name__)
        return func(*args, **(kwargs or {}))


def syncs(run) -> list[str]:
    with CountSyncs() as counter:
        run()
    return counter.calls


@pytest.fixture(scope="module")
def splits():
    return load_data({"name": "digits", "noise": 0.2, "meta_per_class": 4})


def test_the_counter_sees_each_kind_of_read_back():
    x = torch.randn(4)
    calls = syncs(lambda: (x.sum().item(), float(x[0]), int(x[1]), bool(x[2] > 0), x.tolist()))
    assert calls == ["item", "__float__", "__int__", "__bool__", "tolist"]


BAYESIAN = {  # the closed-form and Monte-Carlo estimators, and α recomputed every step
    "bayesian": {},
    "bayesian_mc": {"estimator": "mc"},
    "bayesian_adaptive": {"adaptive_alpha": True},
}


def online_rule(name, splits):
    if name in BAYESIAN:
        table = CachedLogits(torch.randn(len(splits.train), 10), "fp")
        post = LastLayerKFACLaplace(16, 10, n_e=100)
        return BayesianSelection(post, table, alpha=0.3, num_samples=10, seed=1, **BAYESIAN[name])
    if name == "rho_loss":
        return RhoLossSelection(CachedLogits(torch.randn(len(splits.train), 10), "fp"))
    if name == "grad_norm_is":
        return GradNormISSelection(seed=1)
    return UniformSelection(seed=1)


@pytest.mark.parametrize("rule", [*BAYESIAN, "rho_loss", "grad_norm_is", "uniform"])
def test_online_epoch_reads_back_once_per_epoch(rule, splits):
    torch.manual_seed(0)
    model = build_model("mlp", splits.input_shape, 10, {"hidden": [16]})
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    stream = BatchStream(splits.train, 64, seed=0)
    counts = []
    for steps in (2, 6):
        epoch = OnlineSelectionEpoch(
            model, opt, stream, online_rule(rule, splits), n_b=8, max_steps=steps
        )
        epoch.run_epoch(0)  # warm-up: lazily built state may read back once
        counts.append(syncs(lambda epoch=epoch: epoch.run_epoch(1)))
    assert len(counts[0]) == len(counts[1]), f"per-step read-backs: {counts}"


@pytest.mark.parametrize(
    "kernel, gamma, weightnet",
    [("sgld", 0.0, False), ("psgld", 0.0, False), ("sghmc", 0.0, False),
     ("gibbs", 0.5, False), ("sgld", 0.5, False), ("sgld", 0.0, True)],
)  # fmt: skip
def test_bads_block_reads_back_once_per_block(kernel, gamma, weightnet, splits):
    torch.manual_seed(0)
    model = build_model("mlp", splits.input_shape, 10, {"hidden": [16]})
    sampler = BADSSampler(
        model, len(splits.train), len(splits.meta), prior=truncated_normal(0.5, 1.0),
        eta_theta=1e-3, eta_w=0.2, temperature=0.01, kernel=kernel, rho_w=5,
        normaliser_weight=gamma, normaliser_window=3, thin=2, seed=4,
        weight_net=default_weight_net(16 + 10 + 1, 8) if weightnet else None,
        check_inputs=False,  # as the package's runner builds it (data checked when loaded)
    )  # fmt: skip
    train, meta = BatchStream(splits.train, 32, seed=0), BatchStream(splits.meta, 8, seed=1)
    masks = {"noisy": splits.train.is_noisy, "clean": ~splits.train.is_noisy}
    counts = []
    for steps in (2, 6):
        block = BADSBlock(sampler, train, meta, steps, masks)
        block.run_epoch(0)
        counts.append(syncs(lambda block=block: block.run_epoch(1)))
    assert len(counts[0]) == len(counts[1]), f"per-step read-backs: {counts}"


@pytest.mark.parametrize("loop", ["sgd_block", "minibatch_epoch"])
def test_plain_training_loops_read_back_once_per_epoch(loop, splits):
    torch.manual_seed(0)
    model = build_model("mlp", splits.input_shape, 10, {"hidden": [16]})
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    counts = []
    for steps in (2, 6):
        if loop == "sgd_block":
            stream = BatchStream(splits.train, 32, seed=0)
            runner = MinibatchEpoch(model, opt, stream, steps=steps)
        else:  # an epoch is the whole stream: its length sets the steps
            part = splits.train.subset(list(range(32 * steps)))
            runner = MinibatchEpoch(model, opt, BatchStream(part, 32))
        runner.run_epoch(0)
        counts.append(syncs(lambda runner=runner: runner.run_epoch(1)))
    assert len(counts[0]) == len(counts[1]), f"per-step read-backs: {counts}"
