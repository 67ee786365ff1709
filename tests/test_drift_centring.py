"""The weights' drift centred by its running mean (an empirical-Bayes re-centring of the prior)
and the per-group drift statistics: the re-centring identity on the exact Gibbs kernel, the
running mean against a hand loop, the statistics against a brute-force computation, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bayes_dps.inference.bads import BADSSampler
from bayes_dps.inference.bads.drift import DriftCentring, GroupDrift
from bayes_dps.inference.bads.weights import GibbsWeights
from bayes_dps.models import build_model
from bayes_dps.models.priors import truncated_normal


def test_centring_by_b_is_the_prior_re_centred_at_beta_minus_sigma2_rho_b():
    """Exact: the Gibbs draw of w given drift d − b under TN(β, σ) equals the draw given d under
    TN(β − σ²ρ_w b, σ), noise for noise."""
    beta, sigma, rho, b = 0.5, 0.3, 4.0, -0.5
    drift = torch.linspace(-4.0, 1.0, 50)
    idx = torch.arange(50)
    draws = []
    for prior_beta, d in ((beta, drift - b), (beta - sigma**2 * rho * b, drift)):
        move = GibbsWeights(50, 0.5, truncated_normal(prior_beta, sigma), rho)
        move.move(idx, d, None, None, 50, torch.Generator().manual_seed(3))
        draws.append(move.w.clone())
    assert torch.allclose(draws[0], draws[1], atol=1e-5)
    # and the shift matters: without it the draws differ
    plain = GibbsWeights(50, 0.5, truncated_normal(beta, sigma), rho)
    plain.move(idx, drift, None, None, 50, torch.Generator().manual_seed(3))
    assert (plain.w - draws[0]).abs().max() > 0.1


def test_running_mean_follows_a_hand_loop_and_centres_the_drift():
    centring = DriftCentring(momentum=0.9)
    g = torch.Generator().manual_seed(0)
    b = None
    for t in range(30):
        d = torch.randn(16, generator=g) - 3.0 + 0.05 * t
        got = centring(d)
        b = d.mean() if b is None else 0.9 * b + 0.1 * d.mean()  # the first batch copies
        assert torch.allclose(centring.b, b, atol=1e-6)
        assert torch.allclose(got, d - b, atol=1e-6)
    assert abs(float(centring.b) - (-3.0 + 0.05 * 29)) < 0.6  # tracks the drifting mean


def test_group_statistics_equal_a_brute_force_computation():
    masks = {"a": np.array([1, 1, 0, 0, 1], bool), "b": np.array([0, 0, 1, 1, 1], bool),
             "none": np.zeros(5, bool)}  # fmt: skip
    stats = GroupDrift(masks)
    visits = [
        (torch.tensor([0, 2, 4]), torch.tensor([-1.0, -2.0, -3.0]), torch.tensor([0.5, 1.0, 2.0])),
        (torch.tensor([1, 4, 3]), torch.tensor([-0.5, -4.0, -1.5]), torch.tensor([-1.0, 0.0, 3.0])),
    ]
    for idx, ll, drift in visits:
        stats.observe(idx, ll, 0.5 * ll, drift)
    got = stats.read()
    for g, mask in masks.items():
        if not mask.any():
            assert got[g] == {"ll": None, "ll_aux": None, "drift": None, "drift_sd": None}
            continue
        lls = [float(ll[k]) for idx, ll, _ in visits for k in range(3) if mask[idx[k]]]
        ds = [float(d[k]) for idx, _, d in visits for k in range(3) if mask[idx[k]]]
        assert got[g]["ll"] == pytest.approx(np.mean(lls))
        assert got[g]["ll_aux"] == pytest.approx(0.5 * np.mean(lls))
        assert got[g]["drift"] == pytest.approx(np.mean(ds))
        assert got[g]["drift_sd"] == pytest.approx(np.std(ds), abs=1e-6)
    assert stats.read()["a"]["ll"] is None  # read resets


def _sampler(centring: str = "running_mean") -> BADSSampler:
    torch.manual_seed(0)
    model = build_model("mlp", (4,), 3, {"hidden": [8]})
    return BADSSampler(model, 40, 6, prior=truncated_normal(0.5, 0.3), rho_w=50,
                       drift_centring=centring, drift_momentum=0.8, eta_w=0.5)  # fmt: skip


def _batches(seed: int, steps: int):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(40, 4, generator=g), torch.randint(0, 3, (40,), generator=g)
    xm, ym = torch.randn(6, 4, generator=g), torch.randint(0, 3, (6,), generator=g)
    for t in range(steps):
        idx = torch.arange(8 * (t % 5), 8 * (t % 5) + 8)
        yield (x[idx], y[idx], idx), (xm, ym, torch.arange(6))


def test_centring_keeps_the_weights_off_the_edge_where_the_plain_drift_pins_them():
    """A drift of several nats for every point (ρ_w = 50) drives every plain weight to 0; the
    centred drift leaves the average weight near β."""
    plain, centred = _sampler("none"), _sampler()
    for bt, bm in _batches(0, 60):
        plain.step(bt, bm)
        centred.step(bt, bm)
    assert float(plain.w.mean()) < 0.05
    assert 0.2 < float(centred.w.mean()) < 0.8


def test_a_resumed_sampler_continues_the_running_mean_exactly():
    import copy

    batches = list(_batches(1, 20))
    straight = _sampler()
    for bt, bm in batches:
        straight.step(bt, bm)
    first = _sampler()
    for bt, bm in batches[:10]:
        first.step(bt, bm)
    saved = copy.deepcopy((first.state_dict(), first.model.state_dict()))
    resumed = _sampler()
    resumed.model.load_state_dict(saved[1])
    resumed.load_state_dict(saved[0])
    for bt, bm in batches[10:]:
        resumed.step(bt, bm)
    assert torch.equal(resumed.drift.centring.b, straight.drift.centring.b)
    assert torch.equal(resumed.w, straight.w)
