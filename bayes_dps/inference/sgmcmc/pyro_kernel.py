"""Any SG-MCMC algorithm of the package as a Pyro ``MCMCKernel``, for models with subsampled
plates.

Pyro's HMC/NUTS refuse subsample sites; :class:`SGMCMCKernel` builds the potential itself:
each call re-traces the model (plates draw fresh minibatches), conditions it on the current
latent values mapped from the unconstrained space (``biject_to(support)``), and
differentiates ``log p̂(z) + T · log|det J|``, so sampling happens on ℝⁿ with the right
log-Jacobian and the target is the stated posterior tempered by the algorithm's temperature
``T`` (``p̂^{1/T}`` in the constrained space: the Jacobian enters once, not ``1/T`` times).
The step itself is the algorithm's :meth:`~bayes_dps.inference.sgmcmc.base.SGMCMC.apply` —
one adapter for SGLD, pSGLD and SGHMC.
Each latent site may have its own step size (longest matching prefix of ``step_sizes``, e.g.
``{"w": 1e-2, "theta": 1e-4}``). :class:`GibbsWeightsKernel` draws the weight site exactly
(:class:`~bayes_dps.inference.sgmcmc.gibbs.GibbsTruncatedNormal`) and moves the others with
an algorithm.

    MCMC(SGMCMCKernel(bads_model, SGLD(1e-3), step_sizes={"w": 0.05}), num_samples=1000)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from pyro import poutine
from pyro.distributions.transforms import biject_to
from pyro.infer.mcmc.mcmc_kernel import MCMCKernel
from pyro.poutine.subsample_messenger import _Subsample

from bayes_dps.errors import ConfigError, NumericalError
from bayes_dps.inference.sgmcmc.base import SGMCMC, SGMCMCState
from bayes_dps.inference.sgmcmc.gibbs import GibbsTruncatedNormal
from bayes_dps.models.priors import TruncatedNormal


def latent_sites(trace) -> dict:
    """Non-observed, non-subsample sample sites of a trace."""
    return {
        name: site
        for name, site in trace.nodes.items()
        if site["type"] == "sample"
        and not site["is_observed"]
        and not isinstance(site["fn"], _Subsample)
    }


class SGMCMCKernel(MCMCKernel):
    """An SG-MCMC algorithm on a Pyro model with subsample plates.

    Args:
        model: a Pyro model (its plates may use ``subsample_size``).
        algorithm: e.g. ``SGLD(step_size=1e-3, temperature=1.0)``; its ``step_size`` is the
            default ``η``.
        step_sizes: per-site step sizes by name prefix.
        generator: the source of the noise (default: torch's global generator, which
            ``pyro.set_rng_seed`` seeds).
    """

    def __init__(
        self,
        model: Callable,
        algorithm: SGMCMC,
        step_sizes: dict[str, float] | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        if not isinstance(algorithm, SGMCMC):
            raise ConfigError(
                f"algorithm must be an SG-MCMC algorithm such as SGLD(step_size=1e-3), got "
                f"{type(algorithm).__name__}"
            )
        for name, eta in {"step_size": algorithm.step_size, **(step_sizes or {})}.items():
            if not eta > 0:
                raise ConfigError(f"step size {name!r} must be > 0, got {eta}")
        if algorithm.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {algorithm.temperature}")
        self.model, self.algorithm, self.generator = model, algorithm, generator
        self.step_sizes = dict(step_sizes or {})
        self.transforms: dict | None = None
        self.potential_fn = None  # pyro.infer.MCMC checks this attribute
        self._initial_params: dict | None = None
        self._args, self._kwargs = (), {}
        self.num_steps = 0
        self.last_log_joint = float("nan")
        self.buffers: dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------- MCMCKernel
    def setup(self, warmup_steps, *args, **kwargs):
        self._args, self._kwargs = args, kwargs
        trace = poutine.trace(self.model).get_trace(*args, **kwargs)
        sites = latent_sites(trace)
        self.transforms = {name: biject_to(s["fn"].support).inv for name, s in sites.items()}
        if self._initial_params is None:
            self._initial_params = {
                name: self.transforms[name](s["value"].detach()) for name, s in sites.items()
            }
        self.num_steps = 0
        self.buffers = {}

    @property
    def initial_params(self):
        return self._initial_params

    @initial_params.setter
    def initial_params(self, params):
        self._initial_params = params

    def logging(self):
        return OrderedDict(log_joint=f"{self.last_log_joint:.3f}")

    def diagnostics(self):
        return {"log_joint": self.last_log_joint, "step_size": self.algorithm.step_size}

    def sample(self, params):
        log_joint, grads = self.log_joint_and_grad(params)
        self.last_log_joint = log_joint
        self.num_steps += 1
        return self.move(params, grads)

    # ---------------------------------------------------------------- helpers
    def move(self, params: dict, grads: dict) -> dict:
        """Each site one step of the algorithm at its own step size (its buffer kept)."""
        out = {}
        for name, value in params.items():
            alg = self.algorithm.with_step_size(self.step_for(name))
            buffers = {name: self.buffers[name]} if name in self.buffers else {}
            state = SGMCMCState({name: value.detach()}, buffers)
            new = alg.apply(state, {name: grads[name]}, self.generator)
            out[name] = new.params[name]
            self.buffers.update(new.buffers)
        return out

    def step_for(self, name: str) -> float:
        matches = [p for p in self.step_sizes if name == p or name.startswith(p + ".")]
        return self.step_sizes[max(matches, key=len)] if matches else self.algorithm.step_size

    def log_joint_and_grad(self, params: dict) -> tuple[float, dict]:
        """``log p̂(z) + T · log|det J|`` at unconstrained ``params`` and its gradient (``T``
        the algorithm's temperature; module docstring)."""
        for k, v in params.items():
            if not torch.isfinite(v).all():
                raise NumericalError(
                    f"latent {k!r} is NaN/inf at step {self.num_steps + 1}; lower its step size"
                )
        z = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        values = {k: self.transforms[k].inv(v) for k, v in z.items()}
        trace = poutine.trace(poutine.condition(self.model, data=values)).get_trace(
            *self._args, **self._kwargs
        )
        log_joint = trace.log_prob_sum()
        temperature = self.algorithm.temperature
        for k, v in z.items():
            log_det = self.transforms[k].inv.log_abs_det_jacobian(v, values[k]).sum()
            log_joint = log_joint + temperature * log_det
        if not torch.isfinite(log_joint):
            raise NumericalError(
                f"log joint is {log_joint.item()} at step {self.num_steps + 1}; lower the step "
                "sizes or check the model"
            )
        grads = torch.autograd.grad(log_joint, list(z.values()))
        return float(log_joint.detach()), dict(zip(z, grads, strict=True))


class GibbsWeightsKernel(SGMCMCKernel):
    """``algorithm`` (e.g. SGLD) for ``θ`` and every other site, the exact Gibbs draw for the
    weight site ``w``.

    The model must give ``w`` a ``TruncatedNormal`` prior and record the per-point
    log-likelihoods in a deterministic site ``loglik_t`` (as
    :func:`bayes_dps.models.bads.bads_model` does); the full-data log-likelihoods come from a
    trace with ``batch_size_t=None``.
    """

    def __init__(self, model, algorithm, step_sizes=None, generator=None, weight_site="w"):
        super().__init__(model, algorithm, step_sizes, generator)
        self.weight_site = weight_site

    def setup(self, warmup_steps, *args, **kwargs):
        super().setup(warmup_steps, *args, **kwargs)
        trace = poutine.trace(self.model).get_trace(*args, **kwargs)
        prior = trace.nodes[self.weight_site]["fn"]
        if not isinstance(prior, TruncatedNormal):
            raise ConfigError(
                f"exact Gibbs for w needs a TruncatedNormal prior, got {type(prior).__name__}; "
                "use an SG-MCMC kernel for other priors"
            )
        self.prior = prior

    def sample(self, params):
        others = {k: v for k, v in params.items() if k != self.weight_site}
        log_joint, grads = self.log_joint_and_grad(params)
        self.last_log_joint = log_joint
        self.num_steps += 1
        new = self.move(others, grads)
        values = {k: self.transforms[k].inv(v) for k, v in new.items()}
        full_kwargs = {**self._kwargs, "batch_size_t": None}
        trace = poutine.trace(poutine.condition(self.model, data=values)).get_trace(
            *self._args, **full_kwargs
        )
        drift = trace.nodes["loglik_t"]["value"]
        if "loglik_t_aux" in trace.nodes:  # the normaliser's estimate: ℓ_i − γ ℓ_i(θ')
            gamma = self._kwargs.get("normaliser_weight", 0.0)
            drift = drift - gamma * trace.nodes["loglik_t_aux"]["value"]
        gibbs = GibbsTruncatedNormal(
            beta=self.prior.loc, sigma=self.prior.scale,
            scale=trace.nodes["weighted_D_t"]["scale"],
        )  # fmt: skip
        w = self.transforms[self.weight_site].inv(params[self.weight_site])
        drawn = gibbs.apply(SGMCMCState({"w": w}), {"w": drift}, self.generator)
        new[self.weight_site] = self.transforms[self.weight_site](drawn.params["w"])
        return new
