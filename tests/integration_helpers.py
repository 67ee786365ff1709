"""Shared set-up of the integration tests: small data, the same model twice, the package's
own loops as the reference each integration must reproduce."""

from __future__ import annotations

import copy

import numpy as np
import torch

from bayes_dps.data.batches import BatchStream
from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.inference.bads import BADSSampler
from bayes_dps.methods.bads.loop import BADSBlock
from bayes_dps.methods.online.loop import OnlineSelectionEpoch
from bayes_dps.models.mlp import MLP
from bayes_dps.models.priors import truncated_normal
from bayes_dps.selection.predictors.cached import CachedLogits
from bayes_dps.selection.selector import OnlineSelector

N, D, K, N_M = 96, 6, 3, 24


def blobs(n: int = N, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % K
    x = torch.randn(n, D, generator=g) + 2.0 * torch.nn.functional.one_hot(y, D).float()
    flip = torch.rand(n, generator=g) < 0.2
    y = torch.where(flip, (y + 1) % K, y)
    return x, y


def mlp(seed: int = 0) -> MLP:
    torch.manual_seed(seed)
    return MLP(D, K, hidden=(16,))


def predictor(n: int = N) -> CachedLogits:
    g = torch.Generator().manual_seed(5)
    return CachedLogits(torch.randn(n, K, generator=g), fingerprint="test")


def selector(model, rule: str = "bayesian") -> OnlineSelector:
    return OnlineSelector(model, rule, predictor=predictor(), seed=3, alpha=0.3, n_e=50)


def dict_rows(x: torch.Tensor, y: torch.Tensor) -> list[dict]:
    return [{"x": x[i], "labels": int(y[i])} for i in range(len(y))]


def own_online(model, x, y, n_big: int, n_b: int, epochs: int, seed: int = 0, lr: float = 0.1):
    """The package's own online loop (``OnlineSelectionEpoch.step``): selected indices per
    step and the final parameters."""
    stream = BatchStream(IndexedDataset(x, y.numpy(), num_classes=K), n_big, seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loop = OnlineSelectionEpoch(model, opt, stream, selector(model).rule, n_b)
    chosen = []
    for e in range(epochs):
        for xb, yb, ib in stream.epoch(e):
            chosen.append(loop.step(xb, yb, ib)[0].idx.clone())
    return chosen, params(model)


def sampler(model, n_t: int = N, n_m: int = N_M, **kw) -> BADSSampler:
    settings = dict(eta_theta=1e-3, eta_w=0.05, rho_w=10.0, seed=7, check_inputs=True)
    return BADSSampler(model, n_t, n_m, prior=truncated_normal(0.5, 1.0), **{**settings, **kw})


def own_bads(model, x, y, xm, ym, b: int, steps: int, seed: int = 0, **kw):
    """The package's own BADS loop (``BADSBlock``): the final ``w`` and parameters."""
    s = sampler(model, **kw)
    train = BatchStream(IndexedDataset(x, y.numpy(), num_classes=K), b, seed=seed)
    meta = BatchStream(IndexedDataset(xm, ym.numpy(), num_classes=K), b, seed=seed + 1)
    BADSBlock(s, train, meta, steps, masks={"flagged": flags(len(y))}).run_epoch(0)
    return s.w.clone(), params(model)


def params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


def twin(model):
    return copy.deepcopy(model)


def meta_set() -> tuple[torch.Tensor, torch.Tensor]:
    xm, _ = blobs(N_M, seed=1)
    return xm, torch.arange(N_M) % K  # curated: true labels


def flags(n: int = N) -> np.ndarray:
    return np.arange(n) % 4 == 0
