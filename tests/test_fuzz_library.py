"""Property-based hardening of the library's public constructors: whatever a notebook passes
to ``BADSSampler``, ``OnlineSelector``, ``LastLayerKFACLaplace``, ``BayesianSelection``, the
settings dataclasses or the weight priors, the outcome is a working object or one of the
package's own errors (``BayesDPSError``: a message naming the setting and the fix) — never a
``TypeError`` or ``ValueError`` from deep inside, never a NaN that surfaces steps later.
(Names a constructor's signature does not have are Python's ``TypeError``, as for any
function; the samplers' and selectors' ``**settings`` name the known ones instead.)

Seeded, bounded (``BAYES_DPS_FUZZ_EXAMPLES``, default 40 per test), no deadline.
"""

from __future__ import annotations

import math
import os

import torch
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from bayes_dps import BADSSampler, BADSSettings, BayesianSettings, OnlineSelector
from bayes_dps.errors import BayesDPSError
from bayes_dps.inference import LastLayerKFACLaplace
from bayes_dps.models import build_model
from bayes_dps.models.priors import build_weight_prior, truncated_normal
from bayes_dps.selection import BayesianSelection
from bayes_dps.selection.predictors import CachedLogits

EXAMPLES = int(os.environ.get("BAYES_DPS_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip

#: hostile values of any type
ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 1e-300, 1e300, 0.5, 2, 1000, "sgld", "x", "", [1], {"a": 1}]),
    st.text(max_size=5),
)


def expect_clean(build) -> object | None:
    """``build()``'s object, or ``None`` when it raised the package's own error."""
    try:
        return build()
    except BayesDPSError:
        return None


def net():
    torch.manual_seed(0)
    return build_model("mlp", (4,), 3, {"hidden": [4]})


BATCH_T = (torch.randn(6, 4), torch.randint(0, 3, (6,)), torch.arange(6))
BATCH_M = (torch.randn(3, 4), torch.randint(0, 3, (3,)), torch.arange(3))
SAMPLER_KEYS = [f for f in BADSSettings.__dataclass_fields__ if f != "section"]


@seed(7)
@FUZZ
@given(st.dictionaries(st.sampled_from([*SAMPLER_KEYS, "nonsense"]), ANY, max_size=4))
def test_bads_sampler_takes_any_settings(kwargs):
    sampler = expect_clean(
        lambda: BADSSampler(net(), 6, 3, prior=truncated_normal(0.5, 1.0), **kwargs)
    )
    if sampler is not None:  # a valid sampler steps, or stops with a NumericalError
        expect_clean(lambda: sampler.step(BATCH_T, BATCH_M))


@seed(8)
@FUZZ
@given(st.dictionaries(st.sampled_from(["name", "beta", "sigma", "a", "b", "loc", "scale"]), ANY,
                       max_size=4))  # fmt: skip
def test_weight_priors_take_any_spec(spec):
    prior = expect_clean(lambda: build_weight_prior(spec))
    if prior is not None:
        w = torch.tensor([1e-6, 0.5, 1 - 1e-6])
        assert torch.isfinite(prior.log_prob(w)).all(), spec
        assert 0 <= float(prior.mean) <= 1 and math.isfinite(float(prior.mean)), spec


@seed(9)
@FUZZ
@given(st.dictionaries(st.sampled_from(["n_e", "tau0", "momentum"]), ANY, max_size=3))
def test_kfac_posterior_takes_any_settings(kwargs):
    post = expect_clean(lambda: LastLayerKFACLaplace(4, 3, **kwargs))
    if post is not None:
        post.update(torch.randn(5, 4), torch.randn(5, 3), torch.randint(0, 3, (5,)))
        pred = post.predictive(torch.randn(7, 4), torch.randn(7, 3))
        assert torch.isfinite(pred.var_scale).all() and torch.isfinite(pred.cov).all()


BAYES_KEYS = [f for f in BayesianSettings.__dataclass_fields__ if f != "section"]


@seed(10)
@FUZZ
@given(st.dictionaries(st.sampled_from([*BAYES_KEYS, "nonsense"]), ANY, max_size=4))
def test_online_selector_takes_any_hyper_parameters(hyper):
    table = CachedLogits(torch.randn(20, 3), "fuzz")
    selector = expect_clean(lambda: OnlineSelector(net(), "bayesian", table, **hyper))
    if selector is not None:
        x, y, idx = torch.randn(10, 4), torch.randint(0, 3, (10,)), torch.arange(10)
        sel = selector.select(x, y, idx, 4)
        assert len(sel.positions) == 4


@seed(11)
@FUZZ
@given(st.dictionaries(st.sampled_from(["alpha", "estimator", "log_predictive", "num_samples",
                                        "adaptive_alpha"]), ANY, max_size=3))  # fmt: skip
def test_bayesian_rule_takes_any_arguments(kwargs):
    table = CachedLogits(torch.randn(20, 3), "fuzz")
    expect_clean(lambda: BayesianSelection(LastLayerKFACLaplace(4, 3), table, **kwargs))
