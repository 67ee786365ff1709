"""Reference posterior of a small BADS model by Pyro's NUTS (run once; its output is committed).

    python tests/reference/make_bads_nuts_reference.py   # ~5-10 min on a laptop CPU

The model: Bayesian logistic regression (``nn.Linear(2, 2)``) on 12 training points, 3 of
them with flipped labels, and 6 clean meta points; per-instance ``w`` with a
``TruncatedNormal(0.5, 1)`` prior; ``λ = 1``. Writes ``bads_nuts.pt`` with the data, the
posterior means and standard deviations of ``θ`` and ``w``, and NUTS diagnostics.
"""

from __future__ import annotations

from pathlib import Path

import pyro
import torch
from pyro.infer import MCMC, NUTS

from bayes_dps.models.bads import bads_model
from bayes_dps.models.priors import truncated_normal

OUT = Path(__file__).with_name("bads_nuts.pt")


def reference_problem(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(12, 2, generator=g)
    y = (x[:, 0] + 0.3 * torch.randn(12, generator=g) > 0).long()
    y[:3] = 1 - y[:3]  # three mislabelled points
    xm = torch.randn(6, 2, generator=g)
    ym = (xm[:, 0] > 0).long()
    return x, y, xm, ym


def main() -> None:
    x, y, xm, ym = reference_problem()
    net = torch.nn.Linear(2, 2)
    kwargs = {"weight_prior": truncated_normal(0.5, 1.0), "lam": 1.0}
    pyro.set_rng_seed(0)
    mcmc = MCMC(NUTS(bads_model), num_samples=2000, warmup_steps=1000, num_chains=1)
    mcmc.run(net, x, y, xm, ym, **kwargs)
    samples = mcmc.get_samples()
    diag = mcmc.diagnostics()
    torch.save(
        {
            "data": {"x_t": x, "y_t": y, "x_m": xm, "y_m": ym},
            "mean": {k: v.mean(0) for k, v in samples.items()},
            "std": {k: v.std(0) for k, v in samples.items()},
            "n_eff": {k: diag[k]["n_eff"] for k in samples},
            "settings": "NUTS, 1000 warmup, 2000 samples, seed 0, TruncatedNormal(0.5, 1), lam 1",
        },
        OUT,
    )
    print({k: (v.mean(0), v.std(0)) for k, v in samples.items()})
    print({k: diag[k]["n_eff"] for k in samples})


if __name__ == "__main__":
    main()
