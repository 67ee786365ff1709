"""Priors over instance weights ``w_i ∈ [0, 1]`` (BADS) — swappable by name.

* ``truncated_normal(β, σ)`` — the default: ``Normal(β, σ²)`` restricted to ``[0, 1]``. ``β``
  is the sparsity level (prior weight), ``σ`` how far a point's likelihood can move its weight.
* ``beta(a, b)`` and ``logit_normal(μ, s)`` — alternatives for ablations.
"""

from __future__ import annotations

import copy
import math
from typing import ClassVar

import numpy as np
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.distributions.torch_distribution import TorchDistribution
from torch.distributions import TransformedDistribution
from torch.distributions.utils import broadcast_all

from bayes_dps.checks import Float
from bayes_dps.errors import ConfigError


def _log_ndtri(log_p: torch.Tensor, newton_steps: int = 4) -> torch.Tensor:
    """``z`` with ``log Φ(z) = log_p``: ``ndtri`` where ``p`` is representable, an asymptotic
    start deep in the lower tail, then Newton steps on ``log Φ``."""
    p = log_p.exp()
    t = (-2 * log_p).clamp_min(1e-12)
    asym = -torch.sqrt((t - torch.log(t) - math.log(2 * math.pi)).clamp_min(0))
    z = torch.where(p > 1e-300, torch.special.ndtri(p.clamp(1e-300, 1 - 1e-16)), asym)
    for _ in range(newton_steps):
        log_pdf = -0.5 * z**2 - 0.5 * math.log(2 * math.pi)
        z = z - (torch.special.log_ndtr(z) - log_p) / torch.exp(log_pdf - torch.special.log_ndtr(z))
    return z


class TruncatedNormal(TorchDistribution):
    """``Normal(loc, scale²)`` conditioned on ``[low, high]``; reparameterised sampling by the
    inverse CDF, computed in log space for stability when the mass sits in a tail."""

    arg_constraints: ClassVar[dict] = {"loc": constraints.real, "scale": constraints.positive}
    has_rsample = True

    def __init__(self, loc, scale, low=0.0, high=1.0, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        self.low, self.high = float(low), float(high)
        super().__init__(self.loc.shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.interval(self.low, self.high)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(TruncatedNormal, _instance)
        batch_shape = torch.Size(batch_shape)
        new.loc = self.loc.expand(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        new.low, new.high = self.low, self.high
        super(TruncatedNormal, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _bounds(self):
        return (self.low - self.loc) / self.scale, (self.high - self.loc) / self.scale

    def _log_mass(self) -> torch.Tensor:
        """``log(Φ(b) − Φ(a))`` in float64, stable in both tails (uses the symmetric side)."""
        a, b = (t.double() for t in self._bounds())
        flip = (a + b) > 0  # mass in the upper tail: use Φ(−a) − Φ(−b)
        lo = torch.where(flip, -b, a)
        hi = torch.where(flip, -a, b)
        log_hi = torch.special.log_ndtr(hi)
        log_lo = torch.special.log_ndtr(lo)
        return log_hi + torch.log1p(-torch.exp(log_lo - log_hi).clamp(max=1 - 1e-15))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        log_norm = self.scale.log() + self._log_mass().to(self.scale.dtype)
        return -0.5 * z**2 - 0.5 * math.log(2 * math.pi) - log_norm

    def icdf(self, u):
        """Inverse CDF in float64, worked on the lower side of the standard normal (mirrored when
        the interval lies above the mean) and in log space, so it stays exact deep in a tail."""
        a, b = (t.double() for t in self._bounds())
        u = torch.as_tensor(u, dtype=torch.float64, device=a.device)
        flip = (a + b) > 0
        lo, hi = torch.where(flip, -b, a), torch.where(flip, -a, b)
        log_lo, log_hi = torch.special.log_ndtr(lo), torch.special.log_ndtr(hi)
        # log Φ(z) = log(Φ(lo) + u·(Φ(hi) − Φ(lo)))
        log_p = torch.logaddexp(log_lo + torch.log1p(-u), log_hi + torch.log(u))
        z = _log_ndtri(log_p)
        z = torch.where(flip, -z, z).clamp(torch.minimum(a, b), torch.maximum(a, b))
        x = self.loc.double() + self.scale.double() * z
        return x.clamp(self.low, self.high).to(self.loc.dtype)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        u = torch.rand(shape, dtype=torch.float64, device=self.loc.device)
        return self.icdf(u)

    @property
    def mean(self):
        a, b = (t.double() for t in self._bounds())
        log_mass = self._log_mass()
        log_pdf = lambda t: -0.5 * t**2 - 0.5 * math.log(2 * math.pi)  # noqa: E731
        shift = torch.exp(log_pdf(a) - log_mass) - torch.exp(log_pdf(b) - log_mass)
        return (self.loc.double() + self.scale.double() * shift).to(self.loc.dtype)


#: the parameter ranges of the priors: wide enough for any ablation, narrow enough that the
#: densities, their gradients and the truncated normal's inverse CDF stay finite in float32
PARAMETER_RANGES = {
    "beta": Float(0, 1),
    "sigma": Float(1e-3, 1000),
    "a": Float(1e-2, 1e4),
    "b": Float(1e-2, 1e4),
    "loc": Float(-20, 20),
    "scale": Float(1e-3, 100),
}


def _checked(**params: float) -> dict[str, float]:
    return {k: PARAMETER_RANGES[k].check(f"bads.prior.{k}", v) for k, v in params.items()}


def truncated_normal(beta: float = 0.5, sigma: float = 1.0) -> TruncatedNormal:
    """The default BADS prior ``N(β, σ²)`` on ``[0, 1]`` (``β ∈ [0, 1]``, ``σ ∈ [1e-3, 1e3]``)."""
    p = _checked(beta=beta, sigma=sigma)
    return TruncatedNormal(torch.tensor(p["beta"]), torch.tensor(p["sigma"]))


def beta_prior(a: float, b: float) -> dist.Beta:
    """``Beta(a, b)`` on ``[0, 1]`` (``a, b ∈ [0.01, 1e4]``)."""
    p = _checked(a=a, b=b)
    return dist.Beta(torch.tensor(p["a"]), torch.tensor(p["b"]))


class LogitNormal(dist.TransformedDistribution):
    """``sigmoid(Normal(loc, scale))``; its mean has no closed form and is computed by
    Gauss–Hermite quadrature (exact to float precision for ``scale`` up to ~10)."""

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor, validate_args=None) -> None:
        base = dist.Normal(loc, scale)
        super().__init__(base, [dist.transforms.SigmoidTransform()], validate_args=validate_args)

    @property
    def mean(self) -> torch.Tensor:
        nodes, weights = np.polynomial.hermite_e.hermegauss(80)  # ∫ f(x) N(x; 0, 1) dx
        x = torch.as_tensor(nodes, dtype=torch.float64)
        wts = torch.as_tensor(weights / math.sqrt(2 * math.pi), dtype=torch.float64)
        loc = self.base_dist.loc.double()[..., None]
        scale = self.base_dist.scale.double()[..., None]
        return (torch.sigmoid(loc + scale * x) * wts).sum(-1).to(self.base_dist.loc.dtype)


def logit_normal(loc: float, scale: float) -> LogitNormal:
    """``logit(w) ~ Normal(loc, scale²)`` (``loc ∈ [−20, 20]``, ``scale ∈ [1e-3, 100]``)."""
    p = _checked(loc=loc, scale=scale)
    return LogitNormal(torch.tensor(p["loc"]), torch.tensor(p["scale"]))


PRIORS = {"truncated_normal": truncated_normal, "beta": beta_prior, "logit_normal": logit_normal}
#: each prior's parameters, all required (a spec that omits one is an error, not a default)
PRIOR_PARAMETERS = {
    "truncated_normal": ("beta", "sigma"),
    "beta": ("a", "b"),
    "logit_normal": ("loc", "scale"),
}


def check_prior_spec(spec: dict, key: str = "bads.prior") -> dict:
    """Validate ``{name: ..., <every parameter of that prior>}``: a known name, exactly its
    parameters, finite numbers in range (by building the prior once). Returns the spec."""
    if not isinstance(spec, dict):
        raise ConfigError(f"{key} must be a mapping like {{name: truncated_normal, beta: 0.5, "
                          f"sigma: 1.0}}, got {spec!r}")  # fmt: skip
    name = spec.get("name")
    if not isinstance(name, str) or name not in PRIORS:
        raise ConfigError(f"unknown {key}.name {name!r}; choose from {sorted(PRIORS)}")
    want = PRIOR_PARAMETERS[name]
    given = set(spec) - {"name"}
    missing, unknown = [p for p in want if p not in given], sorted(given - set(want))
    if missing or unknown:
        problems = ([f"missing {missing}"] if missing else []) + (
            [f"unknown {unknown}"] if unknown else []
        )
        raise ConfigError(
            f"{key} for {name!r} takes exactly {list(want)}: {', '.join(problems)} "
            f"(e.g. {{name: {name}, " + ", ".join(f"{p}: ..." for p in want) + "})"
        )
    for p in want:
        v = spec[p]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ConfigError(f"{key}.{p} must be a finite number, got {v!r}")
    PRIORS[name](**{p: float(spec[p]) for p in want})  # range checks of the factory
    return {"name": name, **{p: float(spec[p]) for p in want}}


def prior_spec(prior: TorchDistribution) -> dict | None:
    """The ``{name, ...parameters}`` spec of a prior built by :func:`build_weight_prior`
    (``None`` for other distributions)."""
    if isinstance(prior, TruncatedNormal) and prior.loc.dim() == 0:
        return {"name": "truncated_normal", "beta": float(prior.loc), "sigma": float(prior.scale)}
    if isinstance(prior, LogitNormal):
        base = prior.base_dist
        return {"name": "logit_normal", "loc": float(base.loc), "scale": float(base.scale)}
    if isinstance(prior, dist.Beta):
        a, b = prior.concentration1, prior.concentration0
        return {"name": "beta", "a": float(a), "b": float(b)}
    return None


def unvalidated(prior: TorchDistribution) -> TorchDistribution:
    """A shallow copy of ``prior`` that does not check its arguments or values: the check is a
    host synchronisation per call, and a sampler's hot path keeps ``w`` inside ``[0, 1]`` by
    construction."""
    fast = copy.copy(prior)
    fast._validate_args = False
    if isinstance(fast, TransformedDistribution):
        fast.base_dist = unvalidated(fast.base_dist)
    return fast


def prior_on(prior: TorchDistribution, device: torch.device | str) -> TorchDistribution:
    """The same prior with its parameters on ``device`` (one built from a spec is rebuilt;
    any other distribution is returned as it is)."""
    spec = prior_spec(prior)
    if spec is None or torch.device(device).type == "cpu":
        return prior
    rebuilt = build_weight_prior(spec)
    if isinstance(rebuilt, TruncatedNormal):
        return TruncatedNormal(rebuilt.loc.to(device), rebuilt.scale.to(device))
    if isinstance(rebuilt, LogitNormal):
        return LogitNormal(rebuilt.base_dist.loc.to(device), rebuilt.base_dist.scale.to(device))
    return dist.Beta(rebuilt.concentration1.to(device), rebuilt.concentration0.to(device))


def build_weight_prior(spec: dict) -> TorchDistribution:
    """``{name: truncated_normal, beta: 0.5, sigma: 1.0}`` → a distribution on ``[0, 1]``
    (every parameter of the named prior must be given; see :func:`check_prior_spec`)."""
    spec = check_prior_spec(spec)
    return PRIORS[spec["name"]](**{p: spec[p] for p in PRIOR_PARAMETERS[spec["name"]]})
