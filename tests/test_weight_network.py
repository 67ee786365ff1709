"""The weight-network variant of BADS: ``w_i = sigmoid(g_φ(e_i))`` with ``φ`` sampled by SGLD.

Its update is checked against autograd of the stated log joint of ``φ``, written here
independently with ``torch.func.functional_call``:

    log p̂(φ) = −½ λ ‖φ‖² + (N_t / |B_t|) Σ_{i∈B_t} [ log p(w_i) + ρ_φ · w_i · ℓ_i ],
    w_i = sigmoid(g_φ(e_i)),  e_i = [h_θ(x_i), onehot(y_i), −ℓ_i]  (detached),

so that at temperature 0 one step moves ``φ`` by exactly ``(η_φ / 2) ∇ log p̂(φ)``. A sign
flip of any term, a dropped prior penalty or a wrong embedding changes the step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call

from bayes_dps import BADSSampler, truncated_normal
from bayes_dps.inference.bads import default_weight_net
from bayes_dps.inference.bads.weights import WeightNetwork
from bayes_dps.inference.sgmcmc import SGLD
from bayes_dps.models import build_model
from bayes_dps.models.language import standardised
from bayes_dps.models.likelihoods import CausalLM, LogLik

N_T, N_M, K, D = 50, 10, 3, 5
LAM, RHO_PHI, ETA_PHI = 0.3, 2.5, 1e-3


def problem():
    torch.manual_seed(0)
    model = build_model("mlp", (D,), K, {"hidden": [6]})
    net = default_weight_net(model.feature_dim + K + 1, hidden=4)
    x_t, y_t = torch.randn(8, D), torch.randint(0, K, (8,))
    x_m, y_m = torch.randn(4, D), torch.randint(0, K, (4,))
    idx = torch.tensor([3, 7, 11, 19, 23, 31, 40, 49])
    return model, net, (x_t, y_t, idx), (x_m, y_m, torch.arange(4))


def stated_log_joint(phi, net, prior, feats, y, ll, k=K):
    e = torch.cat([feats, F.one_hot(y, k).float(), -ll[:, None]], dim=1)
    w = torch.sigmoid(functional_call(net, phi, (e,))).reshape(-1).clamp(1e-6, 1 - 1e-6)
    penalty = -0.5 * LAM * sum((p**2).sum() for p in phi.values())
    return penalty + (N_T / len(y)) * (prior.log_prob(w) + RHO_PHI * w * ll).sum()


def test_weight_network_step_is_sgld_on_the_stated_log_joint():
    model, net, batch_t, batch_m = problem()
    prior = truncated_normal(0.4, 0.7)
    sampler = BADSSampler(
        model, N_T, N_M, prior=prior, lam=LAM, rho_phi=RHO_PHI, eta_phi=ETA_PHI,
        eta_theta=1e-4, temperature=0.0, weight_net=net,
    )  # fmt: skip
    # what the sampler sees: the forward pass before its θ step
    x = torch.cat([batch_t[0], batch_m[0]])
    with torch.no_grad():
        logits, feats = model.forward_with_features(x)
    b = len(batch_t[1])
    ll = -F.cross_entropy(logits[:b], batch_t[1], reduction="none")
    phi0 = {n: p.detach().clone().requires_grad_(True) for n, p in net.named_parameters()}
    target = stated_log_joint(phi0, net, prior, feats[:b], batch_t[1], ll)
    grads = torch.autograd.grad(target, list(phi0.values()))

    sampler.step(batch_t, batch_m)
    for (name, p), g in zip(net.named_parameters(), grads, strict=True):
        expected = phi0[name].detach() + 0.5 * ETA_PHI * g
        assert torch.allclose(p.detach(), expected, rtol=1e-5, atol=1e-7), name
    # the weights of the batch's points are the network's outputs after the step
    e = torch.cat([feats[:b], F.one_hot(batch_t[1], K).float(), -ll[:, None]], dim=1)
    with torch.no_grad():
        w_new = torch.sigmoid(net(e)).reshape(-1)
    assert torch.allclose(sampler.w[batch_t[2]], w_new.clamp(1e-6, 1 - 1e-6), atol=1e-6)


def test_weight_network_favours_points_the_model_fits():
    """Behaviour implied by the sign of ρ_φ·w·ℓ: with the embedding holding −ℓ, repeated steps
    on fixed losses raise the weights of well-fitted points above badly fitted ones."""
    torch.manual_seed(1)
    net = default_weight_net(2 + 2 + 1, hidden=8)
    prior = truncated_normal(0.5, 1.0)
    feats = torch.randn(40, 2)
    y = torch.randint(0, 2, (40,))
    ll = torch.where(torch.arange(40) < 20, torch.tensor(-0.05), torch.tensor(-4.0))
    phi = {n: p.detach().clone() for n, p in net.named_parameters()}
    for _ in range(300):
        leaves = {n: v.requires_grad_(True) for n, v in phi.items()}
        target = stated_log_joint(leaves, net, prior, feats, y, ll, k=2)
        grads = torch.autograd.grad(target, list(leaves.values()))
        steps = zip(leaves.items(), grads, strict=True)
        phi = {n: v.detach() + 0.5 * 1e-3 * g for (n, v), g in steps}
    e = torch.cat([feats, F.one_hot(y, 2).float(), -ll[:, None]], dim=1)
    w = torch.sigmoid(functional_call(net, phi, (e,))).reshape(-1)
    assert w[:20].mean() > w[20:].mean() + 0.2


# ------------------------------------------------------------- text: cached embeddings


def _text_weight_network(e: torch.Tensor, eta: float = 1e-2, seed: int = 0, refresh: int = 1):
    """The weight network as a text likelihood drives it: ``e_i`` cached, ``ℓ_i`` per visit."""
    torch.manual_seed(seed)
    net = default_weight_net(e.shape[1] + 1, hidden=8)
    return WeightNetwork(
        len(e), 0.5, truncated_normal(0.5, 1.0), net, CausalLM("mean", embeddings=e),
        SGLD(eta, 0.0), rho_phi=1.0, lam=1e-4, refresh_every=refresh,
    )  # fmt: skip


def _current_weights(move: WeightNetwork, e: torch.Tensor, ell: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.sigmoid(move.net(torch.cat([e, -ell[:, None]], 1))).reshape(-1)


def _visit(move: WeightNetwork, idx, ell, drift) -> None:
    idx = torch.as_tensor(idx)
    out = LogLik(torch.as_tensor(ell, dtype=torch.float), None, None)
    move.move(idx, torch.as_tensor(drift, dtype=torch.float), out, None, len(idx), None)


def test_text_weight_network_reweighs_every_visited_point_with_the_moved_network():
    """After each move, every point seen so far has the weight the *current* g_φ gives its
    cached embedding and latest ℓ_i; unvisited points keep the initial weight."""
    e = torch.randn(10, 5, generator=torch.Generator().manual_seed(0))
    move = _text_weight_network(e)
    _visit(move, [0, 1], [-1.0, -2.0], [1.0, -1.0])
    _visit(move, [2, 3], [-3.0, -0.5], [-2.0, 2.0])
    _visit(move, [0, 4], [-0.2, -1.5], [0.5, 0.0])  # point 0 again: its latest ℓ counts
    ell = torch.tensor([-0.2, -2.0, -3.0, -0.5, -1.5])
    assert torch.allclose(move.w[:5], _current_weights(move, e[:5], ell), atol=1e-6)
    assert torch.equal(move.w[5:], torch.full((5,), 0.5))


def test_text_weight_network_re_weighs_every_k_moves_when_asked():
    """``refresh_every = 3``: between refreshes only the batch's points move; the third move
    re-weighs every point seen."""
    e = torch.randn(6, 4, generator=torch.Generator().manual_seed(3))
    move = _text_weight_network(e, refresh=3)
    _visit(move, [0], [-1.0], [1.0])
    _visit(move, [1], [-2.0], [-1.0])
    ell = torch.tensor([-1.0, -2.0, -0.5])
    assert not torch.allclose(move.w[0], _current_weights(move, e[:1], ell[:1]), atol=1e-4)
    _visit(move, [2], [-0.5], [0.5])
    assert torch.allclose(move.w[:3], _current_weights(move, e[:3], ell), atol=1e-6)


def test_text_weight_network_resumes_with_each_points_latest_likelihood():
    e = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    first = _text_weight_network(e, refresh=2)
    _visit(first, [0, 1, 2], [-1.0, -2.0, -0.5], [1.0, -1.0, 0.3])
    state = first.state_dict()
    second = _text_weight_network(e, seed=5, refresh=2)  # another φ: the state replaces it
    second.load_state_dict(state)
    for move in (first, second):
        _visit(move, [3, 4], [-1.2, -0.1], [0.4, -0.7])
        _visit(move, [5], [-0.3], [0.2])
    assert torch.equal(first.w, second.w)


def test_standardised_embeddings_let_the_weight_network_separate_groups():
    """Embeddings with a massive, nearly constant feature (as a decoder's last states have):
    the groups differ only in the small features. Standardised, the weight network gives the
    group with the positive drift the higher weight; raw, the massive feature dominates every
    φ step, all weights move together and the groups stay within a few hundredths."""
    g = torch.Generator().manual_seed(2)
    n = 40
    group = torch.arange(n) % 2
    small = 0.2 * torch.randn(n, 6, generator=g) + 0.2 * group[:, None]
    massive = 25.0 + 0.5 * torch.randn(n, 1, generator=g)
    raw = torch.cat([massive, small], 1)
    drift = torch.where(group == 1, 1.0, -1.0)
    order = torch.randperm(n, generator=g).repeat(3)

    def gap(e: torch.Tensor) -> float:
        move = _text_weight_network(e, eta=1e-2)
        for s in range(0, len(order), 4):
            idx = order[s : s + 4]
            _visit(move, idx, torch.full((4,), -2.0), drift[idx])
        return float(move.w[group == 1].mean() - move.w[group == 0].mean())

    assert gap(standardised(raw)) > 0.3
    assert abs(gap(raw)) < 0.1


def test_standardised_is_per_feature_mean_zero_unit_spread():
    e = torch.tensor([[1.0, 5.0, 3.0], [3.0, 5.0, 4.0], [5.0, 5.0, 8.0]])
    z = standardised(e)
    assert torch.allclose(z.mean(0), torch.zeros(3), atol=1e-6)
    assert torch.allclose(z[:, [0, 2]].std(0, unbiased=False), torch.ones(2))
    assert torch.equal(z[:, 1], torch.zeros(3))  # a constant feature carries nothing
