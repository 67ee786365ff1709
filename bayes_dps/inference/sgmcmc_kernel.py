"""Stochastic-gradient MCMC as Pyro ``MCMCKernel``\\ s, for models with subsampled plates.

Pyro's HMC/NUTS refuse subsample sites; these kernels build the potential themselves: each
call re-traces the model (plates draw fresh minibatches), conditions it on the current latent
values mapped from the unconstrained space (``biject_to(support)``), and differentiates
``log p̂(z) + log|det J|``, so sampling happens on ℝⁿ with the right log-Jacobian and the
target is the stated posterior. Each latent site may have its own step size (longest matching
prefix of ``step_sizes``, e.g. ``{"w": 1e-2, "theta": 1e-4}``) and the noise is scaled by the
temperature ``T``. ``pyro.infer.MCMC(kernel, num_samples, warmup_steps)`` runs them.

Subclasses implement :meth:`SGMCMCKernel.update`, one line of maths per algorithm.
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
    """Base class: potential and gradients of a Pyro model with subsample plates.

    Args:
        model: a Pyro model (its plates may use ``subsample_size``).
        step_size: default step size ``η``.
        step_sizes: per-site step sizes by name prefix.
        temperature: ``T`` (1 samples the posterior; 0 is stochastic gradient ascent).
    """

    def __init__(
        self,
        model: Callable,
        step_size: float = 1e-3,
        step_sizes: dict[str, float] | None = None,
        temperature: float = 1.0,
    ) -> None:
        for name, eta in {"step_size": step_size, **(step_sizes or {})}.items():
            if not eta > 0:
                raise ConfigError(f"step size {name!r} must be > 0, got {eta}")
        if temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {temperature}")
        self.model = model
        self.step_size = float(step_size)
        self.step_sizes = dict(step_sizes or {})
        self.temperature = float(temperature)
        self.transforms: dict | None = None
        self.potential_fn = None  # pyro.infer.MCMC checks this attribute
        self._initial_params: dict | None = None
        self._args, self._kwargs = (), {}
        self.num_steps = 0
        self.last_log_joint = float("nan")

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
        self.reset_state()

    @property
    def initial_params(self):
        return self._initial_params

    @initial_params.setter
    def initial_params(self, params):
        self._initial_params = params

    def logging(self):
        return OrderedDict(log_joint=f"{self.last_log_joint:.3f}")

    def diagnostics(self):
        return {"log_joint": self.last_log_joint, "step_size": self.step_size}

    def sample(self, params):
        log_joint, grads = self.log_joint_and_grad(params)
        self.last_log_joint = log_joint
        self.num_steps += 1
        return {
            name: self.update(name, value.detach(), grads[name], self.step_for(name))
            for name, value in params.items()
        }

    # ---------------------------------------------------------------- helpers
    def reset_state(self) -> None:
        """Clear per-site optimiser-like state (momenta, preconditioners)."""

    def step_for(self, name: str) -> float:
        matches = [p for p in self.step_sizes if name == p or name.startswith(p + ".")]
        return self.step_sizes[max(matches, key=len)] if matches else self.step_size

    def log_joint_and_grad(self, params: dict) -> tuple[float, dict]:
        """``log p̂(z) + log|det J|`` at unconstrained ``params`` and its gradient."""
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
        for k, v in z.items():
            log_joint = log_joint + self.transforms[k].inv.log_abs_det_jacobian(v, values[k]).sum()
        if not torch.isfinite(log_joint):
            raise NumericalError(
                f"log joint is {log_joint.item()} at step {self.num_steps + 1}; lower the step "
                "sizes or check the model"
            )
        grads = torch.autograd.grad(log_joint, list(z.values()))
        return float(log_joint.detach()), dict(zip(z, grads, strict=True))

    def update(self, name: str, value: torch.Tensor, grad: torch.Tensor, eta: float):
        raise NotImplementedError  # pragma: no cover
