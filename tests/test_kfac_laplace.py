"""Last-layer KFAC Laplace: factors vs hand computation, predictive vs brute force and MC."""

from __future__ import annotations

import math

import pytest
import torch
from pyro import poutine
from pyro.infer import Predictive

from bayes_dps.errors import ConfigError, NumericalError
from bayes_dps.inference import LastLayerKFACLaplace, safe_cholesky, with_bias
from bayes_dps.models import last_layer_predictive_model


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def fitted(d=3, k=4, steps=3, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    lap = LastLayerKFACLaplace(d, k, dtype=torch.float64, **kw)
    batches = []
    for _ in range(steps):
        h = torch.randn(5, d, generator=g)
        f = torch.randn(5, k, generator=g)
        y = torch.randint(0, k, (5,), generator=g)
        lap.update(h, f, y)
        batches.append((h, f, y))
    return lap, batches


def test_ema_factors_equal_hand_computation():
    m, n_e, tau0 = 0.9, 300.0, 2.5  # τ0 ≠ 1, so √τ0 ≠ τ0
    lap, batches = fitted(momentum=m, n_e=n_e, tau0=tau0)
    A = G = None
    for h, f, y in batches:
        a_sum = torch.zeros(4, 4)
        g_sum = torch.zeros(4, 4)
        for i in range(len(y)):  # one point at a time
            hi = torch.tensor([*h[i].tolist(), 1.0])
            p = torch.exp(f[i]) / torch.exp(f[i]).sum()
            gi = p.clone()
            gi[y[i]] -= 1
            a_sum += torch.outer(hi, hi)
            g_sum += torch.outer(gi, gi)
        a_new, g_new = a_sum / len(y), g_sum / len(y)
        A = a_new if A is None else m * A + (1 - m) * a_new
        G = g_new if G is None else m * G + (1 - m) * g_new
    assert torch.allclose(lap.A, A) and torch.allclose(lap.G, G)
    V, U = lap.factors()
    assert torch.allclose(V, math.sqrt(n_e) * A + math.sqrt(tau0) * torch.eye(4))
    assert torch.allclose(U, math.sqrt(n_e) * G + math.sqrt(tau0) * torch.eye(4))


def test_predictive_covariance_matches_brute_force_kronecker():
    """(h̃ᵀV⁻¹h̃)U⁻¹ == J (V⊗U)⁻¹ Jᵀ with J = ∂f/∂vec(θ) for f = θᵀh̃."""
    d, k = 3, 4
    lap, _ = fitted(d=d, k=k, n_e=50.0, tau0=2.0)
    V, U = lap.factors()
    sigma = torch.linalg.inv(torch.kron(V, U))  # covariance of row-major vec(θ), (d̃k × d̃k)
    h = torch.randn(6, d)
    theta0 = torch.randn(d + 1, k)
    mean = with_bias(h) @ theta0
    pred = lap.predictive(h, mean)
    cov = pred.covariance()
    for i in range(len(h)):
        hi = with_bias(h[i : i + 1])[0]
        J = torch.autograd.functional.jacobian(
            lambda vec, hi=hi: hi @ vec.reshape(d + 1, k), theta0.reshape(-1)
        )
        assert torch.allclose(cov[i], J @ sigma @ J.T, atol=1e-10)
    assert torch.allclose(pred.mean, mean)


def test_prior_before_any_update():
    lap = LastLayerKFACLaplace(3, 2, tau0=4.0, dtype=torch.float64)
    h = torch.randn(2, 3)
    cov = lap.predictive(h, torch.zeros(2, 2)).covariance()
    expected = (with_bias(h) ** 2).sum(1) / 4.0  # θ ~ N(0, τ0⁻¹ I) ⇒ Var f_j = ‖h̃‖²/τ0
    assert torch.allclose(cov, expected[:, None, None] * torch.eye(2))


@pytest.mark.parametrize("path", ["tensor", "pyro"])
def test_sampled_covariance_within_monte_carlo_error(path):
    lap, _ = fitted(d=3, k=3, n_e=20.0)
    h = torch.randn(2, 3)
    mean = torch.randn(2, 3)
    pred = lap.predictive(h, mean)
    S = 40_000
    torch.manual_seed(1)
    if path == "tensor":
        f = pred.sample(S, generator=torch.Generator().manual_seed(0))
    else:
        samples = Predictive(last_layer_predictive_model, num_samples=1)(
            pred.mean, pred.var_scale, pred.scale_tril, num_samples=S
        )
        f = samples["f"][0]
    assert f.shape == (S, 2, 3)
    cov = pred.covariance()
    for i in range(2):
        x = f[:, i] - f[:, i].mean(0)
        emp = x.T @ x / (S - 1)
        # MC standard error of a covariance entry: sqrt((Σ_aa Σ_bb + Σ_ab²) / S)
        se = ((cov[i].diag()[:, None] * cov[i].diag()[None, :] + cov[i] ** 2) / S).sqrt()
        assert (emp - cov[i]).abs().le(5 * se).all()
        assert (f[:, i].mean(0) - mean[i]).abs().le(5 * (cov[i].diag() / S).sqrt()).all()


def test_pyro_model_scores_labels():
    lap, _ = fitted()
    pred = lap.predictive(torch.randn(5, 3), torch.randn(5, 4))
    y = torch.randint(0, 4, (5,))
    tr = poutine.trace(last_layer_predictive_model).get_trace(
        pred.mean, pred.var_scale, pred.scale_tril, 7, y
    )
    tr.compute_log_prob()
    f = tr.nodes["f"]["value"]
    assert f.shape == (7, 5, 4)
    expected = torch.log_softmax(f, -1).gather(-1, y.expand(7, 5)[..., None])[..., 0]
    assert torch.allclose(tr.nodes["y"]["log_prob"], expected)


def test_state_dict_roundtrip_and_checks():
    lap, _ = fitted()
    other = LastLayerKFACLaplace(3, 4, dtype=torch.float64)
    other.load_state_dict(lap.state_dict())
    assert torch.equal(other.A, lap.A) and other.num_updates == 3
    with pytest.raises(ConfigError, match="n_e"):
        LastLayerKFACLaplace(3, 4, n_e=0)
    with pytest.raises(ConfigError, match="tau0"):
        LastLayerKFACLaplace(3, 4, tau0=-1)


def test_safe_cholesky_jitter_warns_and_fails_clearly():
    singular = torch.ones(3, 3)
    with pytest.warns(RuntimeWarning, match="added"):
        L = safe_cholesky(singular)
    assert torch.allclose(L @ L.T, singular, atol=1e-4)
    with pytest.raises(NumericalError, match="not positive definite"):
        safe_cholesky(-torch.eye(2), max_tries=3)
    with pytest.raises(NumericalError, match="NaN"):
        safe_cholesky(torch.full((2, 2), float("nan")))


def brute_force_var_scale(A, G, h, n_e, tau0):
    """``s_x = h̃ᵀV⁻¹h̃`` from the factors ``A`` (with ``V = √n_e A + √τ0 I``) by a dense
    inverse."""
    V = math.sqrt(n_e) * A + math.sqrt(tau0) * torch.eye(len(A))
    hb = with_bias(h)
    return torch.einsum("ni,ij,nj->n", hb, torch.linalg.inv(V), hb)


@pytest.mark.parametrize("m", [2, 3])
def test_amortised_refresh_scores_with_the_last_refreshed_factors(m):
    """``refresh_every = m``: the factorisation is redone at the first update and then every
    ``m`` updates; in between the predictive uses the factors (A, G) of the last refresh,
    checked against a dense inverse of those factors. The EMA itself is never lagged."""
    n_e, tau0, d, k = 40.0, 2.0, 3, 4
    exact, _ = fitted(d=d, k=k, steps=0, n_e=n_e, tau0=tau0)
    lagged = LastLayerKFACLaplace(d, k, n_e=n_e, tau0=tau0, refresh_every=m, dtype=torch.float64)
    g = torch.Generator().manual_seed(5)
    h_test = torch.randn(6, d, generator=g)
    mean = torch.randn(6, k, generator=g)
    lagged.predictive(h_test, mean)  # the prior's factorisation, never reused after data
    for t in range(1, 3 * m + 2):
        h, f, y = (
            torch.randn(5, d, generator=g),
            torch.randn(5, k, generator=g),
            torch.randint(0, k, (5,), generator=g),
        )
        exact.update(h, f, y)
        lagged.update(h, f, y)
        assert torch.equal(exact.A, lagged.A) and torch.equal(exact.G, lagged.G)
        if t == 1 or (t - 1) % m == 0:  # refreshed at updates 1, 1 + m, 1 + 2m, …
            refreshed = (lagged.A.clone(), lagged.G.clone())
        pred = lagged.predictive(h_test, mean)
        want = brute_force_var_scale(refreshed[0], h_test, h_test, n_e, tau0)
        assert torch.allclose(pred.var_scale, want, atol=1e-10), t
        U = math.sqrt(n_e) * refreshed[1] + math.sqrt(tau0) * torch.eye(k)
        assert torch.allclose(pred.cov, torch.linalg.inv(U), atol=1e-10), t
        stale = (t - 1) % m != 0 and t != 1
        differs = not torch.allclose(pred.var_scale, exact.predictive(h_test, mean).var_scale)
        assert differs == stale, t  # the lag is real between refreshes, absent at them


def test_amortised_refresh_resumes_with_the_lagged_factorisation():
    """A checkpoint taken between refreshes restores the factorisation in use, so a resumed
    posterior scores as the uninterrupted one (not with a fresh, exact factorisation)."""
    h = torch.randn(6, 3)
    mean = torch.randn(6, 4)
    lap = LastLayerKFACLaplace(3, 4, refresh_every=4, dtype=torch.float64)
    for _ in range(3):  # score, then update, as a selection step does: refreshed at update 1
        lap.predictive(h, mean)
        lap.update(torch.randn(5, 3), torch.randn(5, 4), torch.randint(0, 4, (5,)))
    want = lap.predictive(h, mean)  # lagging by 2 updates
    other = LastLayerKFACLaplace(3, 4, refresh_every=4, dtype=torch.float64)
    other.load_state_dict(lap.state_dict())
    got = other.predictive(h, mean)
    assert torch.equal(got.var_scale, want.var_scale) and torch.equal(got.cov, want.cov)
    fresh = LastLayerKFACLaplace(3, 4, dtype=torch.float64)
    fresh.load_state_dict(lap.state_dict())
    assert not torch.allclose(fresh.predictive(h, mean).var_scale, want.var_scale)
    with pytest.raises(ConfigError, match="refresh_every"):
        LastLayerKFACLaplace(3, 4, refresh_every=0)


def test_low_rank_variance_is_exact_when_the_features_span_r_directions():
    """Features in a 2-dimensional subspace (plus the bias: rank 3 of A): with
    ``variance_rank = 3`` the complement of V is exactly √τ0·I, so s_x equals the dense
    inverse's for any x — also off the subspace, and after warm-started refreshes."""
    d, k, n_e, tau0 = 6, 3, 40.0, 2.0
    g = torch.Generator().manual_seed(1)
    basis = torch.randn(2, d, generator=g)
    lap = LastLayerKFACLaplace(d, k, n_e=n_e, tau0=tau0, variance_rank=3, dtype=torch.float64)
    x = torch.randn(7, d, generator=g)  # not in the subspace
    for _ in range(4):
        h = torch.randn(5, 2, generator=g) @ basis
        lap.update(h, torch.randn(5, k, generator=g), torch.randint(0, k, (5,), generator=g))
        got = lap.predictive(x, torch.zeros(7, k)).var_scale
        assert torch.allclose(got, brute_force_var_scale(lap.A, x, x, n_e, tau0), rtol=1e-9)


def test_low_rank_variance_error_is_within_its_bound():
    """Full-rank features: s_x from r leading pairs errs by at most max_rest |1/λ − 1/c|·‖h̃‖²
    (module docstring of feature_variance) and never goes negative."""
    d, k, n_e, tau0 = 8, 3, 100.0, 1.0
    g = torch.Generator().manual_seed(2)
    exact, _ = fitted(d=d, k=k, steps=0, n_e=n_e, tau0=tau0)
    lows = {r: LastLayerKFACLaplace(d, k, n_e=n_e, tau0=tau0, variance_rank=r,
                                    dtype=torch.float64) for r in (2, 5, 7)}  # fmt: skip
    scale = torch.linspace(2.0, 0.1, d)
    for _ in range(3):
        h = torch.randn(20, d, generator=g) * scale
        f, y = torch.randn(20, k, generator=g), torch.randint(0, k, (20,), generator=g)
        for lap in (exact, *lows.values()):
            lap.update(h, f, y)
    x = torch.randn(50, d, generator=g) * scale
    want = brute_force_var_scale(exact.A, x, x, n_e, tau0)
    lam = torch.linalg.eigvalsh(exact.factors()[0])
    errors = []
    for r, lap in lows.items():
        got = lap.predictive(x, torch.zeros(50, k)).var_scale
        rest = lam[: len(lam) - r]
        c = rest.mean()
        bound = (1 / rest - 1 / c).abs().max() * (with_bias(x) ** 2).sum(1)
        assert (got >= 0).all() and ((got - want).abs() <= bound + 1e-12).all(), r
        errors.append((got - want).abs().max().item())
    assert min(errors) > 1e-6  # full-rank features: approximate for r < d̃ − 1 = 8
    with pytest.raises(ConfigError, match="variance_rank=9"):
        LastLayerKFACLaplace(d, k, variance_rank=9)


def test_low_rank_variance_resumes_with_its_basis():
    """The warm-started basis is part of the state: a resumed posterior refreshes from it, as
    the uninterrupted one does (a fresh eigh would differ in the approximated pairs)."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(6, 5, generator=g)

    def step(lap):
        lap.predictive(x, torch.zeros(6, 3))
        lap.update(torch.randn(5, 5, generator=g), torch.randn(5, 3, generator=g),
                   torch.randint(0, 3, (5,), generator=g))  # fmt: skip

    lap = LastLayerKFACLaplace(5, 3, variance_rank=2, dtype=torch.float64)
    for _ in range(3):
        step(lap)
    other = LastLayerKFACLaplace(5, 3, variance_rank=2, dtype=torch.float64)
    other.load_state_dict(lap.state_dict())
    g_state = g.get_state()
    step(lap)
    g.set_state(g_state)
    step(other)
    want = lap.predictive(x, torch.zeros(6, 3)).var_scale
    assert torch.equal(other.predictive(x, torch.zeros(6, 3)).var_scale, want)


@pytest.mark.parametrize("rank", [0, 2])
def test_non_finite_factors_fail_clearly_with_either_variance(rank):
    """A NaN in A (a diverged feature) is named when the scores are checked, for the exact
    and the low-rank variance alike, instead of NaN scores."""
    lap = LastLayerKFACLaplace(3, 4, variance_rank=rank, dtype=torch.float64)
    lap.update(torch.randn(5, 3), torch.randn(5, 4), torch.randint(0, 4, (5,)))
    lap.A[0, 0] = float("nan")
    with pytest.raises(NumericalError, match=r"V \(KFAC feature factor\) contains NaN"):
        lap.predictive(torch.randn(2, 3), torch.zeros(2, 4))
