"""BADS on networks: the sampler's updates, the runner end to end, ArviZ export, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from helpers import FAST, ROOT

from bayes_dps.cli import main
from bayes_dps.diagnostics.arviz_export import arviz
from bayes_dps.inference.bads import BADSSampler
from bayes_dps.inference.bads.sampler import stream_seed
from bayes_dps.inference.sgmcmc.gibbs import weight_conditional
from bayes_dps.models import build_model
from bayes_dps.models.priors import truncated_normal

DENOISE = str(ROOT / "experiments" / "configs" / "digits_denoise.yaml")


def frozen_model():
    torch.manual_seed(0)
    model = build_model("mlp", (4,), 3, {"hidden": [8]})
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@pytest.mark.parametrize("kernel", ["sgld", "gibbs"])
def test_weight_update_targets_the_exact_conditional(kernel):
    """θ frozen: the w_B block samples TN(β + σ² ρ_w ℓ_i, σ) (log-Jacobian included).

    Six distinct points, each replicated 300 times as separate instances, so averages over
    replicas and 1000 post-burn-in steps pin the stationary mean down to ~0.005; SGLD without
    Metropolis correction keeps an O(η) bias, measured < 0.015 at η_w = 0.05.
    """
    model = frozen_model()
    reps = 300
    x0, y0 = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    x, y = x0.repeat(reps, 1), y0.repeat(reps)
    xm, ym = torch.randn(2, 4), torch.tensor([0, 1])
    n = len(y)
    sampler = BADSSampler(
        model, n, 2, prior=truncated_normal(0.5, 0.6), rho_w=2.0, eta_w=0.05, kernel=kernel
    )
    idx = torch.arange(n)
    total = torch.zeros(n)
    torch.manual_seed(1)
    for t in range(1500):
        sampler.step((x, y, idx), (xm, ym, torch.arange(2)))
        if t >= 500:
            total += sampler.w
    mean = (total / 1000).reshape(reps, 6).mean(0).double()
    with torch.no_grad():
        ll = -torch.nn.functional.cross_entropy(model(x0), y0, reduction="none")
    exact = weight_conditional(0.5, 0.6, ll.double(), 2.0).mean
    assert torch.allclose(mean, exact, atol=0.015 if kernel == "sgld" else 0.005)


def test_theta_update_is_sgld_on_the_minibatch_joint():
    torch.manual_seed(0)
    model = build_model("mlp", (4,), 3, {"hidden": [8]})
    before = [p.detach().clone() for p in model.parameters()]
    x, y, xm, ym = (
        torch.randn(5, 4),
        torch.randint(0, 3, (5,)),
        torch.randn(2, 4),
        torch.tensor([0, 2]),
    )
    sampler = BADSSampler(
        model,
        20,
        4,
        prior=truncated_normal(0.5, 1.0),
        lam=0.1,
        rho_t=20,
        rho_m=4,
        eta_theta=1e-3,
        temperature=0.5,
    )
    idx = torch.tensor([3, 7, 9, 11, 19])
    sampler.w[idx] = torch.tensor([0.1, 0.9, 0.5, 0.0, 1.0])
    w_b = sampler.w[idx].clone()
    # expected: θ + η/2 ∇[−λ/2‖θ‖² + ρ_t mean(w ℓ_t) + ρ_m mean(ℓ_m)] + sqrt(η T) ε
    ref = build_model("mlp", (4,), 3, {"hidden": [8]})
    ref.load_state_dict(model.state_dict())
    out = ref(torch.cat([x, xm]))
    ll = -torch.nn.functional.cross_entropy(out, torch.cat([y, ym]), reduction="none")
    params = list(ref.parameters())
    lj = -0.05 * sum((p**2).sum() for p in params) + 20 * (w_b * ll[:5]).mean() + 4 * ll[5:].mean()
    grads = torch.autograd.grad(lj, params)
    sampler.step((x, y, idx), (xm, ym, torch.arange(2)))
    # the sampler's θ stream (seed=0, stream 0: bayes_dps.inference.bads.sampler.stream_seed)
    noise = torch.Generator().manual_seed(stream_seed(0, 0))
    for p_new, p0, g in zip(model.parameters(), before, grads, strict=True):
        eps = torch.randn(p0.shape, generator=noise)
        expected = p0 + 0.5e-3 * g + math.sqrt(1e-3 * 0.5) * eps
        assert torch.allclose(p_new, expected, atol=1e-6)


def run_denoise(tmp_path, *sets, seeds="[0, 1]"):
    out = tmp_path / "bads"
    args = ["bads", "--config", DENOISE, "--out", str(out), *FAST, "--set", f"seeds={seeds}"]
    args += ["--set", "steps=200", "--set", "bads.s_avg=100", "--set", "bads.thin=5"]
    args += ["--set", "contrastive.base_steps=100", "--set", "contrastive.finetune_steps=20"]
    args += ["--set", "classact.base_steps=100"]
    args += ["--set", "bads.weight_net_warmup=50"]
    for s in sets:
        args += ["--set", s]
    return main(args), out


def test_bads_end_to_end_results_posterior_and_plots(tmp_path):
    code, out = run_denoise(tmp_path)
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["methods"]) == {
        "mixing",
        "meta_only",
        "dup_meta",
        "random_select",
        "contrastive",
        "classact",
        "blo",
        "bads",
        "bads_fixed_w",
        "bads_chain",
        "bads_weightnet",
        "cleanlab",
    }
    run = results["methods"]["bads"]["seeds"][0]
    for key in (
        "seed",
        "eval_steps",
        "test_metric",
        "final_metric",
        "group_weights",
        "seconds_per_step",
        "selected",
    ):
        assert key in run
    assert run["eval_steps"] == [100, 200]
    assert (
        set(run["group_weights"]) == {"clean", "noisy"} and len(run["group_weights"]["clean"]) == 2
    )
    assert len(run["selected"]) == round(0.5 * 1297)
    assert results["methods"]["mixing"]["seeds"][0]["group_weights"] == {}
    idata = arviz().from_netcdf(out / "posterior.nc")
    assert idata.posterior["w"].dims == ("chain", "draw", "instance")
    assert idata.posterior["w"].shape == (2, 40, 1297)
    assert set(np.unique(idata.constant_data["group"].values)) == {"clean", "noisy"}
    summary = arviz().summary(idata, var_names=["w"], coords={"instance": [0, 1, 2]})
    assert np.isfinite(summary["r_hat"]).all() and np.isfinite(summary["ess_bulk"]).all()
    assert (out / "posterior_bads_weightnet.nc").is_file()
    assert (out / "posterior_bads_chain.nc").is_file()
    assert not list(out.glob("posterior_blo*")), "only posterior weights are exported to ArviZ"
    drift = run["group_drift"]  # ℓ_i and the drift per group, at each evaluation
    assert set(drift) == {"clean", "noisy"} and len(drift["noisy"]["ll"]) == 2
    assert drift["noisy"]["ll"][-1] < drift["clean"]["ll"][-1]  # wrong labels fit worse
    assert drift["noisy"]["ll_aux"] == [0.0, 0.0]  # γ = 0: no auxiliary chain
    for name in ("contrastive", "classact", "blo"):  # baselines with weights, per group
        rec = results["methods"][name]["seeds"][0]
        assert set(rec["final_group_weights"]) == {"clean", "noisy"}
        assert len(rec["group_weights"]["noisy"]) == 2
    assert (out / "weights.png").is_file() and (out / "curves.png").is_file()


def test_bads_separates_noisy_from_clean(tmp_path):
    code, out = run_denoise(tmp_path, "methods=[mixing, bads]", "steps=1500", seeds="[0]")
    assert code == 0
    m = json.loads((out / "results.json").read_text())["methods"]
    weights = m["bads"]["seeds"][0]["final_group_weights"]
    assert weights["noisy"] < 0.2 * weights["clean"]
    assert m["bads"]["seeds"][0]["final_metric"] > m["mixing"]["seeds"][0]["final_metric"] + 0.05


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["dataset.meta_per_class=0"], "curated meta set D_m"),
        (["bads.prior.beta=1.5"], r"beta must be a number in [0, 1], got 1.5"),
        (["bads.prior.sigma=0"], r"sigma must be a number in [0.001, 1000], got 0.0"),
        (["bads.eta_theta=0"], "bads.eta_theta must be a number in (0, 10], got 0"),
        (["bads.eta_w=-1"], "bads.eta_w must be a number in (0, 100], got -1"),
        (["bads.kernel=hmc"], "bads.kernel must be one of"),
        (["methods=[bads, l2rw]"], "methods[1] must be one of bads, bads_chain, bads_exact"),
    ],
)
def test_bads_bad_input(tmp_path, capsys, sets, message):
    code, out = run_denoise(tmp_path, *sets, seeds="[0]")
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err
    assert not out.exists(), "bad input leaves --out as it was"


def test_nan_stops_the_chain_and_keeps_what_was_recorded(tmp_path):
    code, out = run_denoise(
        tmp_path, "methods=[bads]", "bads.eta_theta=10", "eval_every=1", seeds="[0]"
    )
    assert code == 0
    run = json.loads((out / "results.json").read_text())["methods"]["bads"]["seeds"][0]
    assert "stopped" in run and "at step" in run["stopped"]


def test_resume_reuses_finished_runs_and_their_traces(tmp_path):
    code, out = run_denoise(tmp_path, "methods=[bads]", "steps=100", "eval_every=50")
    assert code == 0
    first = json.loads((out / "results.json").read_text())
    (out / "posterior.nc").unlink()
    args = ["bads", "--config", DENOISE, "--out", str(out), *FAST, "--resume"]
    for s in (
        "seeds=[0, 1]",
        "steps=100",
        "eval_every=50",
        "bads.s_avg=100",
        "bads.thin=5",
        "methods=[bads]",
        "contrastive.base_steps=100",
        "contrastive.finetune_steps=20",
        "classact.base_steps=100",
        "bads.weight_net_warmup=50",
    ):  # fmt: skip  (the settings of run_denoise)
        args += ["--set", s]
    assert main(args) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["methods"]["bads"]["seeds"] == first["methods"]["bads"]["seeds"]
    idata = arviz().from_netcdf(out / "posterior.nc")
    assert idata.posterior["w"].shape[:2] == (2, 20)
    assert idata.sample_stats["lp"].shape == (2, 20)
