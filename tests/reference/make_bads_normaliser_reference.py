"""Reference posteriors of BADS *with its normaliser*, by Pyro's NUTS (run once; its output
is committed as ``bads_normaliser_nuts.pt``).

    python tests/reference/make_bads_normaliser_reference.py   # ~3 min on a laptop CPU

The model is Bayesian linear regression with Gaussian noise of known standard deviation
``s``, where the weighted-data prior's normaliser has a closed form. With ``θ ∈ R^d``,
``θ ~ N(0, λ⁻¹ I)``, ``ℓ_i(θ) = log N(y_i; x_iᵀθ, s²)`` and ``W = diag(w)``:

    Z(w) = ∫ N(θ; 0, λ⁻¹I) Π_i N(y_i; x_iᵀθ, s²)^{w_i} dθ
    log Z(w) = −½ log(2πs²) Σ_i w_i + (d/2) log λ − ½ log det P + ½ bᵀP⁻¹b − ½ yᵀWy / s²
    P = λI + XᵀWX / s²,   b = XᵀWy / s²

and the joint with the normaliser weighted by ``γ`` is

    log p_γ(θ, w, D) = Σ_i log TN(w_i; β, σ) + log N(θ; 0, λ⁻¹I) + Σ_i w_i ℓ_i(θ)
                       − γ log Z(w) + Σ_j ℓ_j^meta(θ).

NUTS samples ``(θ, w)`` of this exact density for ``γ ∈ {0, 0.5, 1}``; the file stores the
data and the posterior means, standard deviations and effective sample sizes.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import MCMC, NUTS

from bayes_dps.models.priors import truncated_normal

OUT = Path(__file__).with_name("bads_normaliser_nuts.pt")
LAM, NOISE_SD, BETA, SIGMA = 1.0, 0.5, 0.5, 1.0
GAMMAS = (0.0, 0.5, 1.0)


def reference_problem(seed: int = 0):
    """Six training points (the last one an outlier) and three clean meta points, d = 2."""
    g = torch.Generator().manual_seed(seed)
    theta_true = torch.tensor([1.0, -0.5], dtype=torch.float64)
    x = torch.randn(6, 2, generator=g, dtype=torch.float64)
    y = x @ theta_true + NOISE_SD * torch.randn(6, generator=g, dtype=torch.float64)
    y[-1] += 2.5  # an outlier
    xm = torch.randn(3, 2, generator=g, dtype=torch.float64)
    ym = xm @ theta_true + NOISE_SD * torch.randn(3, generator=g, dtype=torch.float64)
    return x, y, xm, ym


def gaussian_loglik(x, y, theta, s=NOISE_SD):
    """``log N(y_i; x_iᵀθ, s²)`` per point (θ may carry leading batch dimensions)."""
    mean = (x * theta[..., None, :]).sum(-1)
    return -0.5 * math.log(2 * math.pi * s**2) - 0.5 * (y - mean) ** 2 / s**2


def log_normaliser(w, x, y, lam=LAM, s=NOISE_SD):
    """Closed-form ``log Z(w)`` (module docstring); differentiable in ``w``."""
    d = x.shape[-1]
    P = lam * torch.eye(d, dtype=x.dtype) + (x.T * w) @ x / s**2
    b = (x.T * w) @ y / s**2
    return (
        -0.5 * math.log(2 * math.pi * s**2) * w.sum()
        + 0.5 * d * math.log(lam)
        - 0.5 * torch.logdet(P)
        + 0.5 * b @ torch.linalg.solve(P, b)
        - 0.5 * (w * y**2).sum() / s**2
    )


def exact_model(x, y, xm, ym, gamma):
    theta = pyro.sample("theta", dist.Normal(torch.zeros(2, dtype=x.dtype), LAM**-0.5).to_event(1))
    with pyro.plate("instances", len(y)):
        w = pyro.sample("w", truncated_normal(BETA, SIGMA).expand([len(y)]))
    w = w.to(x.dtype)
    pyro.factor("weighted_D_t", (w * gaussian_loglik(x, y, theta)).sum())
    pyro.factor("normaliser", -gamma * log_normaliser(w, x, y))
    pyro.factor("D_m", gaussian_loglik(xm, ym, theta).sum())


def main() -> None:
    x, y, xm, ym = reference_problem()
    out = {
        "data": {"x_t": x, "y_t": y, "x_m": xm, "y_m": ym},
        "settings": {"lam": LAM, "noise_sd": NOISE_SD, "beta": BETA, "sigma": SIGMA},
        "posterior": {},
        "method": "NUTS, 1000 warmup, 4000 samples, seed 0",
    }
    for gamma in GAMMAS:
        pyro.set_rng_seed(0)
        mcmc = MCMC(NUTS(exact_model), num_samples=4000, warmup_steps=1000, num_chains=1)
        mcmc.run(x, y, xm, ym, gamma)
        s = mcmc.get_samples()
        diag = mcmc.diagnostics()
        out["posterior"][gamma] = {
            "mean": {k: v.mean(0) for k, v in s.items()},
            "std": {k: v.std(0) for k, v in s.items()},
            "n_eff": {k: diag[k]["n_eff"] for k in s},
        }
        print(gamma, {k: v.mean(0) for k, v in s.items()}, {k: diag[k]["n_eff"] for k in s})
    torch.save(out, OUT)


if __name__ == "__main__":
    main()
