"""The fixed-weight twin (``bads_fixed_w``): the same sampler as ``bads`` with ``w`` held at
the prior mean. Its weights never move, and while the weights of the two agree their ``θ``
chains are the same step for step — so ``bads − bads_fixed_w`` is what the weights add."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from helpers import FAST

from bayes_dps import BADSSampler, truncated_normal
from bayes_dps.cli import main
from bayes_dps.data import BatchStream, load_data
from bayes_dps.models import build_model

STEPS = 12


@pytest.fixture(scope="module")
def splits():
    return load_data({"name": "digits", "noise": 0.5, "meta_per_class": 5})


def pair(splits, **settings):
    """``bads`` and its twin on copies of one network, with the same seed."""
    torch.manual_seed(0)
    net = build_model("mlp", splits.input_shape, 10, {"hidden": [16]})
    kw = dict(
        prior=truncated_normal(0.5, 1.0), rho_w=10, eta_theta=3e-4, eta_w=0.5,
        temperature=1e-2, seed=3, **settings,
    )  # fmt: skip
    n_t, n_m = len(splits.train), len(splits.meta)
    bads = BADSSampler(copy.deepcopy(net), n_t, n_m, **kw)
    twin = BADSSampler(copy.deepcopy(net), n_t, n_m, fixed_weights=True, **kw)
    return bads, twin


def batches(splits):
    train, meta = BatchStream(splits.train, 32, seed=0), BatchStream(splits.meta, 16, seed=1)
    return zip(train.cycle(), meta.cycle(), strict=False)  # both endless


@pytest.mark.parametrize("gamma", [0.0, 0.5])
def test_the_twin_moves_theta_as_bads_does_while_the_weights_agree(splits, gamma):
    """Each step, ``bads``'s weights are set to the twin's (the prior mean) before it moves:
    the θ chains stay identical, with the normaliser's chain running in ``bads`` (γ > 0) or
    not. A sampler that drew θ's noise from the same stream as w's would part after one step."""
    bads, twin = pair(splits, normaliser_weight=gamma)
    for step, (bt, bm) in zip(range(STEPS), batches(splits), strict=False):
        bads.w.copy_(twin.w)
        bads.step(bt, bm)
        twin.step(bt, bm)
        for p, q in zip(bads.model.parameters(), twin.model.parameters(), strict=True):
            assert torch.equal(p, q), f"θ differs after step {step + 1}"
        assert not torch.equal(bads.w, twin.w)  # bads's weights did move
    assert twin.normaliser is None  # the auxiliary chain only feeds w: the twin skips it


def test_the_twins_weights_never_move(splits):
    _, twin = pair(splits, average_from=4, thin=2)
    mean = float(truncated_normal(0.5, 1.0).mean)
    for _, (bt, bm) in zip(range(STEPS), batches(splits), strict=False):
        twin.step(bt, bm)
    assert torch.all(twin.w == mean)
    assert torch.allclose(twin.weights, torch.full_like(twin.weights, mean))
    assert all((t == mean).all() for t in twin.recorder.trace)


def test_cli_reports_the_twin_and_what_the_weights_contribute(tmp_path):
    out = tmp_path / "run"
    args = [
        "bads", "--config", "digits_denoise", "--out", str(out), *FAST,
        "--set", "methods=[bads, bads_fixed_w]", "--set", "seeds=2", "--set", "steps=200",
        "--set", "bads.s_avg=100", "--set", "model_options={hidden: [32]}",
    ]  # fmt: skip
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    mean = float(truncated_normal(0.5, 1.0).mean)
    for run in res["methods"]["bads_fixed_w"]["seeds"]:
        for curve in run["group_weights"].values():
            assert curve == pytest.approx([mean] * len(curve), abs=1e-6)
    contribution = res["weight_contribution"]["bads"]
    per_seed = {
        r["seed"]: r["final_metric"] - t["final_metric"]
        for r, t in zip(
            res["methods"]["bads"]["seeds"], res["methods"]["bads_fixed_w"]["seeds"], strict=True
        )
    }
    assert contribution["twin"] == "bads_fixed_w"
    assert contribution["per_seed"] == {str(k): v for k, v in per_seed.items()}
    assert contribution["final_metric"]["n"] == 2
    assert contribution["final_metric"]["mean"] == pytest.approx(sum(per_seed.values()) / 2)
