"""The BADS sampler's settings: every default, range and meaning in one place (the library's
:class:`~bayes_dps.inference.bads.sampler.BADSSampler` and the ``bads`` section of a config
share them)."""

from __future__ import annotations

from dataclasses import dataclass

from bayes_dps.checks import MAX_STEPS, Bool, Choice, Float, Int, Nullable, Settings, setting
from bayes_dps.inference.bads.drift import CENTRINGS
from bayes_dps.inference.sgmcmc import KERNELS

POSITIVE = Float(0, 1e12, low_open=True)


@dataclass(frozen=True)
class BADSSettings(Settings):
    """What :class:`BADSSampler` leaves free (Xu et al. 2024; the names are the paper's
    symbols, see ``docs/methods.md``)."""

    section = "bads"

    kernel: str = setting(
        "sgld",
        Choice(KERNELS),
        "`sgld`, `psgld` (RMSprop preconditioner), `sghmc`, `gibbs` (exact `w` given `θ`)",
    )
    lam: float = setting(1e-4, Float(0, 1e6), "prior precision `λ` of `θ` (and `φ`)")
    rho_t: float | None = setting(None, Nullable(POSITIVE), "impact constant of `D_t`", "`N_t`")
    rho_m: float | None = setting(None, Nullable(POSITIVE), "impact constant of `D_m`", "`N_m`")
    rho_w: float = setting(
        1.0, Float(0, 1e6, low_open=True), "impact constant of the `w` update (1 = exact)"
    )
    rho_phi: float = setting(
        1.0, Float(0, 1e6, low_open=True), "impact constant of the weight network `φ`"
    )
    eta_theta: float = setting(1e-4, Float(0, 10, low_open=True), "step size of `θ`")
    eta_w: float = setting(0.05, Float(0, 100, low_open=True), "step size of `w` (logit scale)")
    eta_phi: float = setting(1e-5, Float(0, 10, low_open=True), "step size of `φ`")
    temperature: float = setting(1.0, Float(0, 1e6), "`T` of the injected noise")
    temperature_w: float = setting(
        1.0,
        Float(0, 1e6),
        "`T` of the per-instance weights' moves (`sgld`, `psgld`, `sghmc` on `logit w`): 1 "
        "samples their conditional, as the `gibbs` kernel draws it; lower values sharpen `w` "
        "towards `clamp(β + σ²ρ_w d_i, 0, 1)`, which at `1e-4` sends every point with "
        "`ρ_w ℓ_i < −β/σ²` to `w ≈ 0` (measured on digits: all weights below 0.01)",
    )
    temperature_phi: float | None = setting(
        None, Nullable(Float(0, 1e6)), "`T` of the weight network's `φ` noise", "`temperature`"
    )
    normaliser_weight: float = setting(
        0.0,
        Float(0, 1),
        "`γ`: weight of the weighted-data prior's normaliser `log Z(w)` in `bads` (0 = the "
        "paper's model, 1 = exact; an auxiliary chain estimates its gradient)",
    )
    eta_aux: float | None = setting(
        None, Nullable(Float(0, 10, low_open=True)), "step size of the auxiliary chain θ'",
        "`eta_theta`",
    )  # fmt: skip
    temperature_aux: float | None = setting(
        None, Nullable(Float(0, 1e6)), "temperature of the auxiliary chain θ'", "`temperature`"
    )
    normaliser_every: int = setting(
        1,
        Int(1, MAX_STEPS),
        "the auxiliary chain θ' moves every k-th step and is only evaluated (a forward pass "
        "over `B_t`) on the others: its backward pass costs 1/k, and it moves k× less often "
        "(it must still follow `w`: `eta_aux`)",
    )
    normaliser_window: int = setting(
        1,
        Int(1, 10_000),
        "average `log p(z_i | θ')` over the last K visits of a point (Gibbs needs K > 1)",
    )
    drift_centring: str = setting(
        "none",
        Choice(CENTRINGS),
        "`running_mean`: the weights' drift minus its running mean over `D_t` (an "
        "empirical-Bayes re-centring of the prior, `docs/methods.md`)",
    )
    drift_momentum: float = setting(
        0.99, Float(0, 1, high_open=True), "EMA coefficient of the drift's running mean"
    )
    weight_net_refresh: int = setting(
        1,
        Int(0, MAX_STEPS),
        "every k steps the weight network re-weighs every point it has seen (cached text "
        "embeddings; costs one `g_φ` pass over `N_t`); 0: a point keeps its latest visit's weight",
    )
    thin: int = setting(20, Int(1, MAX_STEPS), "trace thinning")
    trace_max_instances: int = setting(
        100_000, Int(1, 10**7), "traced instances (a fixed random subset above)"
    )
    # set by the caller, not in a config's `bads` section
    weight_warmup: int = setting(
        0, Int(0, MAX_STEPS), "steps during which `w` (or `φ`) is held and only `θ` moves"
    )
    average_from: int = setting(
        0, Int(0, MAX_STEPS), "first step of the running average of `w` (burn-in before it)"
    )
    trace_seed: int = setting(0, Int(0, 2**31 - 1), "seed of the traced instance subset")
    seed: int = setting(0, Int(0, 2**63 - 1), "seed of the sampler's generators")
    fixed_weights: bool = setting(
        False,
        Bool(),
        "hold `w` at its initial value (the prior mean) and never move it: the fixed-weight "
        "twin, whose `θ` chain is `bads`'s with the weights taken out",
    )

    @property
    def phi_temperature(self) -> float:
        return self.temperature if self.temperature_phi is None else self.temperature_phi

    @property
    def aux_step_size(self) -> float:
        return self.eta_theta if self.eta_aux is None else self.eta_aux

    @property
    def aux_temperature(self) -> float:
        return self.temperature if self.temperature_aux is None else self.temperature_aux


#: the settings a caller (the experiment runner) sets, not the config's ``bads`` section
CALLER_SETTINGS = ("weight_warmup", "average_from", "trace_seed", "seed", "fixed_weights")
