"""Convergence of BADS weight chains, with the flags a reader needs.

Per-instance weights are many noisy scalars; the quantities a user reads — the mean weight of
the clean and of the noisy points, of the minority and majority classes — are per-group
means, scalars that must agree across chains (seeds) if the chains sample one posterior.
Both are summarised with rank-normalised split R-hat and bulk ESS (Vehtari et al. 2021, as
ArviZ computes them) on the draws after warm-up, and flagged:

* R-hat > 1.1: the chains disagree — the weights describe where each chain is, not a
  posterior; run longer, raise the temperature or the step sizes, or read the weights as the
  result of an optimisation.
* R-hat > 1.01 (and ≤ 1.1): close, but not yet the 1.01 recommended for final results.
* bulk ESS < 100 per chain: too few effective draws for the mean weight to be trusted to
  within a tenth of its posterior standard deviation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bayes_dps.inference.inference_data import arviz

RHAT_SERIOUS, RHAT_MILD, ESS_PER_CHAIN = 1.1, 1.01, 100


@dataclass
class Convergence:
    """Summary of one chain set: ``per_instance`` quantiles of R-hat / ESS, ``groups``
    ``{group: {"rhat", "ess", "mean", "sd"}}`` of the group-mean weights, and the draws used."""

    chains: int
    draws: int
    warmup_draws: int
    per_instance: dict[str, float]
    groups: dict[str, dict[str, float]]

    def flags(self) -> list[str]:
        """One sentence per problem (empty when nothing is flagged)."""
        out = []
        if self.chains < 2:
            return ["one chain only: R-hat needs at least two (run several seeds)"]
        worst = max((g["rhat"] for g in self.groups.values()), default=float("nan"))
        if worst > RHAT_SERIOUS:
            out.append(
                f"group-mean R-hat up to {worst:.2f} > {RHAT_SERIOUS}: the chains (seeds) "
                "disagree about the weights, so they describe where each chain is rather "
                "than one posterior — run longer, raise the temperature or the step sizes, "
                "or read the weights as an optimisation result"
            )
        elif worst > RHAT_MILD:
            out.append(
                f"group-mean R-hat up to {worst:.3f} > {RHAT_MILD}: nearly converged, not yet "
                "at the level recommended for final results"
            )
        if self.per_instance.get("rhat_median", 1.0) > RHAT_SERIOUS:
            out.append(
                f"per-instance R-hat median {self.per_instance['rhat_median']:.2f}: single "
                "points' weights have not mixed; trust group means over individual weights"
            )
        low = min((g["ess"] for g in self.groups.values()), default=float("inf"))
        if low < ESS_PER_CHAIN * self.chains:
            out.append(
                f"group-mean bulk ESS as low as {low:.0f} (< {ESS_PER_CHAIN} per chain): the "
                "mean weights carry Monte-Carlo error; keep more draws (lower bads.thin, more "
                "steps)"
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "chains": self.chains,
            "draws": self.draws,
            "warmup_draws": self.warmup_draws,
            "per_instance": self.per_instance,
            "groups": self.groups,
            "flags": self.flags(),
        }


def group_mean_traces(idata: Any) -> dict[str, np.ndarray]:
    """``{group: (chain, draw) array}`` of the mean weight over each group's instances."""
    w = idata.posterior["w"].values  # (chain, draw, instance)
    if "constant_data" in idata.groups() and "group" in idata.constant_data:
        labels = idata.constant_data["group"].values
    else:
        labels = np.array(["all"] * w.shape[-1])
    return {str(g): w[..., labels == g].mean(-1) for g in sorted(set(labels.tolist()))}


def warmup_draws(idata: Any) -> int:
    """Draws to discard: those before the recorded ``warmup_steps`` (the start of the
    running-average window), else the first half."""
    draws = idata.posterior.sizes["draw"]
    steps = idata.posterior["draw"].values
    warm = idata.posterior.attrs.get("warmup_steps")
    if warm is None:
        return draws // 2
    return int(min(np.searchsorted(steps, warm), max(draws - 4, 0)))


def convergence(idata: Any) -> Convergence:
    """R-hat and bulk ESS of every traced weight and of each group's mean weight."""
    az = arviz()
    post = idata.posterior
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    start = warmup_draws(idata)
    kept = post[["w"]].isel(draw=slice(start, None))
    per_instance: dict[str, float] = {}
    groups: dict[str, dict[str, float]] = {}
    if chains >= 2 and draws - start >= 4:
        rhat = az.rhat(kept)["w"].values
        ess = az.ess(kept)["w"].values
        per_instance = {
            "rhat_median": float(np.nanmedian(rhat)),
            "rhat_p95": float(np.nanpercentile(rhat, 95)),
            "rhat_max": float(np.nanmax(rhat)),
            "ess_median": float(np.nanmedian(ess)),
            "ess_min": float(np.nanmin(ess)),
        }
        for g, trace in group_mean_traces(idata).items():
            kept_g = trace[:, start:]
            groups[g] = {
                "rhat": float(az.rhat(kept_g)),
                "ess": float(az.ess(kept_g)),
                "mean": float(kept_g.mean()),
                "sd": float(kept_g.std()),
            }
    return Convergence(chains, draws, start, per_instance, groups)
