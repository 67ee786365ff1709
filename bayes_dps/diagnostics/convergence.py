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

The chains are the run's seeds. Every seed of a run trains on the same data, split and
corruption (they come from ``dataset.seed``, not from the run's seed); seeds differ in the
network's initialisation, the batch order and the sampler's noise. So the chains are
comparable: if they sampled one posterior they would agree. R-hat is a ratio, though: with a
cold chain (a small ``bads.temperature``) the spread within a chain is tiny, and chains whose
group means differ by a thousandth of a weight can have R-hat 2. :meth:`Convergence.headline`
puts the ratio beside the absolute numbers a reader needs: how far apart the chains' group
means are (``between_sd``), how much each chain moves (``within_sd``), and the gap between the
groups that the weights are read for.
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

    def gap(self) -> float:
        """The largest difference between two groups' mean weights (0 with one group)."""
        means = [g["mean"] for g in self.groups.values()]
        return max(means) - min(means) if len(means) > 1 else 0.0

    def same_order(self) -> bool:
        """Whether every chain orders the groups by mean weight as the pooled draws do."""
        names = list(self.groups)
        pooled = sorted(names, key=lambda g: self.groups[g]["mean"])
        chains = len(self.groups[names[0]]["chain_means"])
        return all(
            sorted(names, key=lambda g: self.groups[g]["chain_means"][c]) == pooled
            for c in range(chains)
        )

    def headline(self) -> str:
        """One sentence for a report's first screen: mixed or not, and whether the chains
        agree on what the weights say about the groups."""
        if self.chains < 2 or not self.groups:
            return "one chain only: no R-hat (run two or more seeds to compare chains)"
        worst = max(g["rhat"] for g in self.groups.values())
        between = max(g["between_sd"] for g in self.groups.values())
        within = max(g["within_sd"] for g in self.groups.values())
        spread = (
            f"the {self.chains} chains' group means are {between:.4f} apart (sd between "
            f"chains), each chain moves {within:.4f} (sd within)"
        )
        if worst <= RHAT_MILD:
            return f"mixed: group-mean R-hat ≤ {worst:.3f}; {spread}"
        gap = self.gap()
        verdict = f"not mixed at this length: group-mean R-hat up to {worst:.2f}; {spread}"
        if len(self.groups) < 2:
            return verdict
        if not self.same_order():
            return verdict + "; the chains rank the groups differently"
        verdict += f"; every chain ranks the groups alike (gap {gap:.3f} between the groups"
        if between * 10 < gap:
            return verdict + "), so they disagree only in the last digits"
        return verdict + ")"

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
            "headline": self.headline(),
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
                "between_sd": float(kept_g.mean(1).std(ddof=1)),
                "within_sd": float(kept_g.std(1, ddof=1).mean()),
                "chain_means": kept_g.mean(1).tolist(),
            }
    return Convergence(chains, draws, start, per_instance, groups)
