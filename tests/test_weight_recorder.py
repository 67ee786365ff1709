"""The weight recorder's lazy running sum equals a dense Σ_t w(t), whatever changes when."""

from __future__ import annotations

import torch

from bayes_dps.inference.weight_trace import WeightRecorder


def test_lazy_sum_equals_the_dense_sum_of_every_step():
    """Random batches of changes, a full change now and then (a weight network's refresh), a
    step that changes nothing (warm-up), a checkpoint and a resume in the middle: the average
    equals the mean of the dense per-step copies of ``w``."""
    g = torch.Generator().manual_seed(0)
    n, steps, avg_from = 50, 40, 7
    rec = WeightRecorder(n, average_from=avg_from, thin=5)
    w = torch.rand(n, generator=g, dtype=torch.float64).float()
    dense = []
    for t in range(steps):
        if t % 11 == 3:
            w = torch.rand(n, generator=g)
            changed = None
        elif t % 13 == 5:
            changed = torch.zeros(0, dtype=torch.long)
        else:
            changed = torch.randint(0, n, (6,), generator=g)  # duplicates included
            w[changed] = torch.rand(6, generator=g)
        rec.record(t, w, changed=changed)
        if t >= avg_from:
            dense.append(w.clone())
        if t == 20:  # resume from a checkpoint into a fresh recorder
            state = rec.state_dict()
            rec = WeightRecorder(n, average_from=avg_from, thin=5)
            rec.load_state_dict(state, w=w)
    want = torch.stack(dense).double().mean(0)
    assert rec.count == len(dense)
    assert torch.allclose(rec.average.double(), want, atol=1e-6)
    assert len(rec.trace) == steps // 5


def test_changed_none_is_the_dense_update():
    rec = WeightRecorder(4)
    for t, w in enumerate((torch.ones(4), torch.arange(4.0), torch.full((4,), 2.0))):
        rec.record(t, w)
    assert torch.allclose(rec.average, torch.tensor([1.0, 4 / 3, 5 / 3, 2.0]))


def test_sampler_average_equals_the_dense_mean_of_its_draws():
    """A BADS chain (per-instance weights under SGLD, SGHMC and the Gibbs kernel, each with weight
    warm-up steps that move nothing): its averaged weights equal the mean of dense copies of
    ``w`` taken after every counted step — the moves report every index they write."""
    from bayes_dps import BADSSampler, truncated_normal
    from bayes_dps.models import build_model

    for kernel in ("sgld", "sghmc", "gibbs"):
        torch.manual_seed(0)
        n_t, avg_from = 40, 3
        model = build_model("mlp", (3,), 2, {"hidden": [4]})
        sampler = BADSSampler(
            model, n_t, 8, prior=truncated_normal(0.5, 1.0), kernel=kernel,
            average_from=avg_from, weight_warmup=2,
        )  # fmt: skip
        x, y = torch.randn(n_t, 3), torch.randint(0, 2, (n_t,))
        x_m, y_m = torch.randn(8, 3), torch.randint(0, 2, (8,))
        dense = []
        for t in range(12):
            idx = torch.randperm(n_t)[:6]
            sampler.step((x[idx], y[idx], idx), (x_m, y_m, torch.arange(8)))
            if t >= avg_from:
                dense.append(sampler.w.clone())
        want = torch.stack(dense).mean(0)
        assert not torch.allclose(want, sampler.w)  # the weights moved after average_from
        assert torch.allclose(sampler.weights, want, atol=1e-6), kernel


def test_a_resumed_chain_averages_bitwise_as_an_uninterrupted_one():
    """The lazy sum is checkpointed as it stands (and held = the loaded w), so the resumed
    chain adds the same terms in the same order: its averaged weights are equal, not close."""
    from bayes_dps import BADSSampler, truncated_normal
    from bayes_dps.models import build_model

    n_t = 40
    x, y = torch.randn(n_t, 3), torch.randint(0, 2, (n_t,))
    x_m, y_m = torch.randn(8, 3), torch.randint(0, 2, (8,))
    order = [torch.randperm(n_t, generator=torch.Generator().manual_seed(t))[:6] for t in range(14)]

    def chain():
        torch.manual_seed(0)
        model = build_model("mlp", (3,), 2, {"hidden": [4]})
        return BADSSampler(model, n_t, 8, prior=truncated_normal(0.5, 1.0), average_from=2)

    def run(sampler, steps):
        for t in steps:
            idx = order[t]
            sampler.step((x[idx], y[idx], idx), (x_m, y_m, torch.arange(8)))

    whole = chain()
    run(whole, range(14))
    first = chain()
    run(first, range(7))
    state = torch.load(_roundtrip(first.state_dict()), weights_only=False)
    second = chain()
    second.model.load_state_dict(first.model.state_dict())
    second.load_state_dict(state)
    run(second, range(7, 14))
    assert torch.equal(second.weights, whole.weights)


def _roundtrip(state):
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return buf


def test_meta_reweighting_records_only_the_batch_and_averages_as_the_dense_sum():
    """The meta-reweighting baselines (MWN, BLO) write w for the batch only and tell the
    recorder so: the average over a block of steps equals the mean of dense copies of w."""
    from torch import nn

    from bayes_dps.data import BatchStream, IndexedDataset
    from bayes_dps.methods.bads.reweighting import MetaReweightingBlock

    class RandomWeights(MetaReweightingBlock):
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            self.g, self.dense = torch.Generator().manual_seed(0), []

        def step_weights(self, x_t, y_t, x_m, y_m, n, step):
            return torch.rand(len(y_t), generator=self.g)

        def on_step(self):
            if len(self.dense) < 12 and self.recorder.count:
                self.dense.append(self.w.clone())

    data = IndexedDataset(torch.randn(40, 3), torch.randint(0, 2, (40,)), num_classes=2)
    model = nn.Linear(3, 2)
    block = RandomWeights(
        model, torch.optim.SGD(model.parameters(), lr=0.01), BatchStream(data, 6, seed=0),
        BatchStream(data, 4, seed=1), 12, WeightRecorder(40, average_from=2), masks={},
    )  # fmt: skip
    block.run_epoch(0)
    want = torch.stack(block.dense).mean(0)
    assert block.recorder.count == len(block.dense) == 10
    assert torch.allclose(block.recorder.average, want, atol=1e-6)
