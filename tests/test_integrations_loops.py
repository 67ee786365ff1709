"""Any loop: the big-batch loader reproduces the package's order, and the three-line loops
(``SelectedBatches``, ``BADSBatches``) reproduce the package's own steps bit for bit."""

from __future__ import annotations

import pytest
import torch
from integration_helpers import (
    K,
    N,
    blobs,
    dict_rows,
    meta_set,
    mlp,
    own_bads,
    own_online,
    params,
    same,
    sampler,
    selector,
)
from torch.utils.data import DataLoader

from bayes_dps.data.batches import BatchStream
from bayes_dps.data.dataset import IndexedDataset
from bayes_dps.errors import ConfigError, DataError
from bayes_dps.integrations import BADSBatches, BigBatchLoader, SelectedBatches
from bayes_dps.integrations.inputs import batch_tensors, check_meta_classes, check_n_b


def test_loader_order_is_the_batch_streams():
    x, y = blobs()
    stream = BatchStream(IndexedDataset(x, y.numpy(), num_classes=K), 20, seed=4)
    loader = BigBatchLoader(list(zip(x, y, strict=True)), 20, seed=4)
    for epoch in (0, 3):
        loader.set_epoch(epoch)
        ours = [idx for _, _, idx in loader]
        theirs = [idx for _, _, idx in stream.epoch(epoch)]
        assert len(ours) == len(theirs) == N // 20
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
    assert torch.equal(loader.batch_at(N // 20 * 3 + 1)[2], theirs[1])  # global step, epoch 3


def test_a_tensor_dataset_is_gathered_in_one_indexing_with_the_rows_values():
    """``Indexed(gather=True)``: the batch of an ``IndexedDataset`` is its tensors indexed once,
    equal to ``BatchStream``'s batch and to collating the rows one by one."""
    from torch.utils.data import default_collate

    x, y = blobs()
    data = IndexedDataset(x, y.numpy(), num_classes=K)
    stream = BatchStream(data, 20, seed=4)
    fast = BigBatchLoader(data, 20, seed=4)
    rowwise = BigBatchLoader(data, 20, seed=4, collate_fn=default_collate)
    assert fast.dataset.gather and not rowwise.dataset.gather
    for a, b, c in zip(fast, rowwise, stream.epoch(0), strict=True):
        for u, v, w in zip(a, b, c, strict=True):
            assert torch.equal(u, v) and torch.equal(u, w) and u.dtype == v.dtype == w.dtype
    for u, v in zip(fast.batch_at(7), rowwise.batch_at(7), strict=True):
        assert torch.equal(u, v)


def test_dict_rows_keep_their_index_past_a_collator_that_drops_unknown_columns():
    x, y = blobs()

    def dropping(rows):  # keeps only what a model's forward takes, as HF collators do
        return {"x": torch.stack([r["x"] for r in rows]),
                "labels": torch.tensor([r["labels"] for r in rows])}  # fmt: skip

    batch = next(iter(BigBatchLoader(dict_rows(x, y), 16, seed=0, collate_fn=dropping)))
    xb, yb, idx = batch_tensors(batch)
    assert torch.equal(xb, x[idx]) and torch.equal(yb, y[idx])


def test_online_three_line_loop_equals_the_package_loop():
    x, y = blobs()
    ref_model = mlp()
    chosen, ref = own_online(ref_model, x, y, n_big=24, n_b=6, epochs=2)
    model = mlp()
    sel, opt = selector(model), torch.optim.SGD(model.parameters(), lr=0.1)
    loader, got = BigBatchLoader(list(zip(x, y, strict=True)), 24, seed=0), []
    for epoch in range(2):
        loader.set_epoch(epoch)
        for b in SelectedBatches(sel, loader, n_b=6):
            loss = b.loss(model)
            opt.zero_grad()
            loss.backward()
            opt.step()
            got.append(b.step.selected_idx)
    assert all(torch.equal(a, b) for a, b in zip(got, chosen, strict=True))
    assert same(params(model), ref)


def test_bads_three_line_loop_moves_w_as_the_sampler_does():
    """With the optimiser's step equal to SGLD's drift (plain SGD at lr = η/2 on the log
    joint, temperature 0), the user-optimiser loop and ``sampler.step`` agree."""
    x, y = blobs()
    xm, ym = meta_set()
    w_ref, ref = own_bads(mlp(), x, y, xm, ym, b=16, steps=N // 16, temperature=0.0, lam=0.0)
    model = mlp()
    s = sampler(model, temperature=0.0, lam=0.0)
    scale = (s.rho_t + s.rho_m) * s.settings.eta_theta / 2  # loss = −log joint/(ρ_t+ρ_m)
    opt = torch.optim.SGD(model.parameters(), lr=scale)
    train = BigBatchLoader(list(zip(x, y, strict=True)), 16, seed=0)
    meta = BigBatchLoader(list(zip(xm, ym, strict=True)), 16, seed=1)
    for b in BADSBatches(s, train, meta):
        loss = b.loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert s.num_steps == N // 16  # the last step's weights moved when the loop asked on
    torch.testing.assert_close(s.w, w_ref, rtol=0, atol=1e-5)
    for p, q in zip(params(model), ref, strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-5)


def test_bad_input_is_refused_naming_the_fix():
    x, y = blobs()
    plain = DataLoader([{"x": x[i], "labels": y[i]} for i in range(8)], batch_size=4)
    with pytest.raises(DataError, match=r"no 'idx' column.*BigBatchLoader"):
        batch_tensors(next(iter(plain)))
    unlabelled = BigBatchLoader([{"x": x[i]} for i in range(8)], 4)
    with pytest.raises(DataError, match="no 'labels' column"):
        batch_tensors(next(iter(unlabelled)))
    with pytest.raises(ConfigError, match=r"n_b=40.*n_B=32"):
        check_n_b(40, 32)
    meta = [(x[i], torch.tensor(K)) for i in range(4)]  # a class D_t does not have
    with pytest.raises(ConfigError, match=r"classes \[3\]"):
        check_meta_classes(list(zip(x, y, strict=True)), meta, K)


def test_the_states_numpy_arrays_survive_a_weights_only_load(tmp_path):
    """``portable`` / ``restored``: a sampler's full state (numpy random states, traces) through
    ``torch.load(weights_only=True)``, equal after, and the restored sampler goes on alike."""
    import numpy as np

    from bayes_dps.integrations.state import portable, restored

    x, y = blobs()
    xm, ym = meta_set()
    s = sampler(mlp(), thin=1)
    train = BatchStream(IndexedDataset(x, y.numpy(), num_classes=K), 16, seed=0).cycle()
    meta = BatchStream(IndexedDataset(xm, ym.numpy(), num_classes=K), 16, seed=1).cycle()
    for _ in range(3):
        s.step(next(train), next(meta))
    state = {**s.state_dict(), "legacy": np.random.RandomState(0).get_state()}
    torch.save(portable(state), tmp_path / "s.pt")
    back = restored(torch.load(tmp_path / "s.pt", weights_only=True))
    rng = np.random.RandomState()
    rng.set_state(back["legacy"])
    assert rng.rand() == np.random.RandomState(0).rand()
    again = sampler(mlp(1), thin=1)
    again.model.load_state_dict(s.model.state_dict())
    again.load_state_dict(back)
    batch_t, batch_m = next(train), next(meta)
    s.step(batch_t, batch_m)
    again.step(batch_t, batch_m)
    assert torch.equal(s.w, again.w) and same(params(s.model), params(again.model))
