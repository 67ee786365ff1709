"""The derivation of what the weights can read, checked against the sampler (docs/methods.md,
"What the weights can read").

For one weight the gradient of the log joint is ``∂ log p(w_i) + ℓ_i(θ) − γ E_{θ'}[ℓ_i(θ')]``,
``θ' ∼ p(θ' | w, D_t)``. In a bias-only softmax model with ``K`` classes of sizes ``n_c``, mean
class weights ``w̄_c`` and a balanced meta set of impact ``ρ_m``, ``θ`` sits at
``p_c ∝ w̄_c n_c + ρ_m/K`` and ``θ'`` at ``p'_c ∝ w̄_c n_c``, so the drift contrast between a
minority and a majority class is

    γ = 0:  Δ₀ = log[(w̄ n_min + ρ_m/K) / (w̄ n_maj + ρ_m/K)]                 (< 0 always)
    γ = 1:  Δ₁ = log[(1 + ρ_m/(K w̄ n_min)) / (1 + ρ_m/(K w̄ n_maj))]         (> 0 always)

The sampler runs with the weights held at the prior mean (the warm-up), so ``w̄ = 0.5`` is
known, and the measured mean drift per group after burn-in must match both contrasts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from bayes_dps.data.batches import BatchStream
from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.inference.bads import BADSSampler
from bayes_dps.models.priors import build_weight_prior

K, N_MIN, N_MAJ, W = 4, 20, 200, 0.5


class BiasOnly(nn.Module):
    """``p(y = c | θ) = softmax(b)_c``: the inputs are ignored."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.b = nn.Parameter(torch.zeros(k))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b.expand(len(x), -1)


def predicted(gamma: float, rho_m: float) -> float:
    delta0 = math.log((W * N_MIN + rho_m / K) / (W * N_MAJ + rho_m / K))
    if gamma == 0:
        return delta0
    return delta0 - gamma * math.log(N_MIN / N_MAJ)  # θ' fits D_t alone: p'_c ∝ w̄ n_c


def measured(gamma: float, rho_m: float, steps: int = 3000) -> float:
    torch.manual_seed(0)
    sizes = [N_MIN, N_MIN, N_MAJ, N_MAJ]  # classes 0, 1 rare
    y = np.concatenate([np.full(n, c) for c, n in enumerate(sizes)])
    train = IndexedDataset(torch.zeros(len(y), 1), y, num_classes=K)
    meta = IndexedDataset(torch.zeros(4 * K, 1), np.repeat(np.arange(K), 4), num_classes=K)
    model = BiasOnly(K)
    sampler = BADSSampler(
        model, len(train), len(meta),
        prior=build_weight_prior({"name": "truncated_normal", "beta": W, "sigma": 1.0}),
        kernel="sgld", eta_theta=1e-3, temperature=1e-4, lam=1e-4, rho_m=rho_m,
        normaliser_weight=gamma, weight_warmup=10**6, eta_aux=1e-3, seed=1,
    )  # fmt: skip
    minority = y < 2
    sampler.watch_groups({"minority": minority, "majority": ~minority})
    t_batches = BatchStream(train, 40, seed=0).cycle()
    m_batch = next(iter(BatchStream(meta, len(meta), shuffle=False)))  # the balanced D_m
    for s in range(steps):
        if s == steps // 3:
            sampler.drift.groups.read()  # burn-in: forget the first third
        sampler.step(next(t_batches), m_batch, check=False)
    groups = sampler.drift.groups.read()
    return groups["minority"]["drift"] - groups["majority"]["drift"]


@pytest.mark.parametrize("rho_m", [50.0, 500.0])
@pytest.mark.parametrize("gamma", [0.0, 1.0])
def test_the_drift_contrast_is_the_derived_one(gamma, rho_m):
    want, got = predicted(gamma, rho_m), measured(gamma, rho_m)
    assert got == pytest.approx(want, abs=0.02), (got, want)
    assert (got > 0) == (gamma == 1.0)  # only the exact model ranks the minority up


def test_results_carry_the_per_block_contrast_and_its_figure(tmp_path):
    import json

    from bayes_dps.cli import main

    out = tmp_path / "run"
    args = ["bads", "--config", "digits_balance", "--out", str(out), "--quiet"]
    for s in ("steps=200", "eval_every=100", "seeds=[0]", "methods=[bads, bads_exact]",
              "model_options={hidden: [16]}", "device=cpu", "bads.s_avg=20"):  # fmt: skip
        args += ["--set", s]
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    for method in ("bads", "bads_exact"):
        run = res["methods"][method]["seeds"][0]
        c, d = run["group_contrast"], run["group_drift"]
        assert c["groups"] == ["minority", "majority"]
        want = [a - b for a, b in zip(d["minority"]["drift"], d["majority"]["drift"], strict=True)]
        assert c["drift"] == pytest.approx(want)
        assert len(c["drift"]) == len(run["eval_steps"]) == 2
    assert (out / "contrast.png").stat().st_size > 10_000
    # the exact model (γ = 1) reads the rare classes up in the first block, the paper's down
    paper, exact = (res["methods"][m]["seeds"][0]["group_contrast"]["drift"][0]
                    for m in ("bads", "bads_exact"))  # fmt: skip
    assert exact > 0 > paper


def test_a_bads_sweep_draws_the_contrast_of_every_point(tmp_path):
    from bayes_dps.cli import main
    from bayes_dps.diagnostics.report import write_report

    out = tmp_path / "sweep"
    args = ["bads", "--config", "digits_balance", "--out", str(out), "--quiet",
            "--sweep", "bads.normaliser_weight=0,1"]  # fmt: skip
    for s in ("steps=40", "eval_every=20", "seeds=[0]", "methods=[bads]",
              "model_options={hidden: [16]}", "device=cpu", "bads.s_avg=20"):  # fmt: skip
        args += ["--set", s]
    assert main(args) == 0
    assert (out / "contrast.png").stat().st_size > 10_000
    (out / "contrast.png").unlink()
    write_report(out)  # bayes-dps report on the sweep folder draws it again
    assert (out / "contrast.png").is_file()
