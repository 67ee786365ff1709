"""The last-layer Laplace predictive ``q(f_x)`` (Deng et al. Eq. 15) as a Pyro model.

    f_x^(s) ~ N( f_θ(x), s_x · U⁻¹ )          s = 1..S,  x ∈ B_t
    y_x     ~ Categorical(softmax(f_x^(s)))   (observed when ``y`` is given)

Plates: ``samples`` (size S, dim −2) × ``batch`` (size n, dim −1). ``pyro.infer.Predictive``
or ``poutine.trace`` on this function give the Monte-Carlo draws of Eq. 16; the selection
rule's hot path computes the same draws with plain tensors (``KronPredictive.sample``), so this
model is the swappable, inspectable statement of the predictive, not the fast path.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch


def last_layer_predictive_model(
    mean_logits: torch.Tensor,
    var_scale: torch.Tensor,
    scale_tril: torch.Tensor,
    num_samples: int = 1,
    y: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sample ``f`` of shape ``(S, n, k)`` (and score ``y`` if given).

    Args:
        mean_logits: ``(n, k)`` point-estimate logits ``f_θ(x)``.
        var_scale: ``(n,)`` scalars ``s_x = h̃_xᵀ V⁻¹ h̃_x``.
        scale_tril: ``(k, k)`` lower-triangular ``C`` with ``CCᵀ = U⁻¹``.
        num_samples: ``S``.
        y: ``(n,)`` observed labels, or ``None``.
    """
    n = mean_logits.shape[0]
    scale = var_scale.sqrt()[:, None, None] * scale_tril  # (n, k, k)
    with pyro.plate("samples", num_samples, dim=-2), pyro.plate("batch", n, dim=-1):
        f = pyro.sample("f", dist.MultivariateNormal(mean_logits, scale_tril=scale))
        pyro.sample("y", dist.Categorical(logits=f), obs=y)
    return f
