"""Trainer core: exact resume, NaN handling, BatchNorm-safe scoring, batch streams."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from bayes_dps.data import BatchStream, IndexedDataset, load_digits
from bayes_dps.errors import DataError, NumericalError
from bayes_dps.methods.online import OnlineSelectionEpoch
from bayes_dps.models import build_model
from bayes_dps.models.batchnorm import frozen_running_stats
from bayes_dps.runs.summary import epochs_to_target, mean_std
from bayes_dps.selection import UniformSelection
from bayes_dps.tasks import evaluate
from bayes_dps.training import MinibatchEpoch, Trainer, seed_everything, sgd_step


class Interrupt(Exception):
    pass


def make_trainer(splits, ckpt, epochs=4, stop_after=None, arch="mlp", shape=None):
    seed_everything(0)
    model = build_model(
        arch, shape or splits.input_shape, 10, {} if arch != "mlp" else {"hidden": [32]}
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    stream = BatchStream(splits.train, 128, seed=0)
    step = OnlineSelectionEpoch(model, opt, stream, UniformSelection(seed=0), 16)
    test = BatchStream(splits.test, 256, shuffle=False, drop_last=False)

    def stop(history):
        if stop_after is not None and history[-1]["epoch"] == stop_after:
            raise Interrupt

    trainer = Trainer(
        model,
        opt,
        step,
        evaluate=lambda: evaluate(model, test, 10),
        epochs=epochs,
        checkpoint_path=ckpt,
        on_epoch_end=stop,
    )
    return trainer, model, opt


@pytest.mark.parametrize("arch", ["mlp", "resnet32"])
def test_resume_after_interruption_gives_identical_weights(tmp_path, arch):
    """Kill after epoch 2, resume from the checkpoint with fresh objects: same final state."""
    as_images = arch != "mlp"
    splits = load_digits(meta_per_class=0, as_images=as_images)
    if as_images:  # 3-channel 32x32 inputs so the BatchNorm ResNet is exercised
        x = splits.train.inputs.repeat(1, 3, 4, 4)
        splits.train = splits.train._replace(
            inputs=x[:256], targets=splits.train.targets[:256], annotations=None
        )
        xt = splits.test.inputs.repeat(1, 3, 4, 4)
        splits.test = splits.test._replace(
            inputs=xt[:64], targets=splits.test.targets[:64], annotations=None
        )
    epochs = 4 if arch == "mlp" else 2
    ref, ref_model, ref_opt = make_trainer(splits, tmp_path / "ref.pt", epochs=epochs)
    ref_history = ref.fit()

    ckpt = tmp_path / "run.pt"
    first, _, _ = make_trainer(splits, ckpt, epochs=epochs, stop_after=epochs // 2)
    with pytest.raises(Interrupt):
        first.fit()
    torch.manual_seed(12345)  # a different process would start from other RNG states
    resumed, model, opt = make_trainer(splits, ckpt, epochs=epochs)
    history = resumed.fit(resume=True)

    for (k, a), b in zip(ref_model.state_dict().items(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert [h["test"] for h in history] == [h["test"] for h in ref_history]
    assert [h["selected_redundant"] for h in history] == [
        h["selected_redundant"] for h in ref_history
    ]
    a_state, b_state = ref_opt.state_dict()["state"], opt.state_dict()["state"]
    assert all(torch.equal(a_state[i]["exp_avg"], b_state[i]["exp_avg"]) for i in a_state)


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    splits = load_digits(meta_per_class=0)
    trainer, _, _ = make_trainer(splits, tmp_path / "absent.pt", epochs=1)
    assert len(trainer.fit(resume=True)) == 1


def test_nan_loss_raises_with_location():
    model = nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.weight.detach().clone()
    x = torch.tensor([[float("nan"), 0.0, 0.0]])
    with pytest.raises(NumericalError, match="at step 7"):
        sgd_step(model, opt, x, torch.tensor([0]), where="at step 7")
    assert torch.equal(model.weight, before)


def test_sgd_step_weights_scale_per_example_losses():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 1, 0])
    w = torch.tensor([1.0, 0.0, 2.0, 0.0])
    ref = nn.Linear(3, 2)
    ref.load_state_dict(model.state_dict())
    sgd_step(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, w)
    loss = (nn.functional.cross_entropy(ref(x), y, reduction="none") * w).mean()
    loss.backward()
    with torch.no_grad():
        expected = ref.weight - 0.1 * ref.weight.grad
    assert torch.allclose(model.weight, expected, atol=1e-6)


def test_frozen_running_stats_restores_batchnorm_buffers():
    model = build_model("resnet32", (3, 32, 32), 10).train()
    before = {
        k: v.clone() for k, v in model.state_dict().items() if "running" in k or "tracked" in k
    }
    with frozen_running_stats(model), torch.no_grad():
        model(torch.randn(8, 3, 32, 32) * 5 + 3)
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    model(torch.randn(8, 3, 32, 32) * 5 + 3)  # outside the block they do change
    assert not torch.equal(before["stem.1.running_mean"], model.state_dict()["stem.1.running_mean"])


def test_batch_stream_order_depends_only_on_seed_and_epoch():
    splits = load_digits(meta_per_class=0)
    a = [i.tolist() for _, _, i in BatchStream(splits.train, 100, seed=3).epoch(2)]
    b = [i.tolist() for _, _, i in BatchStream(splits.train, 100, seed=3).epoch(2)]
    c = [i.tolist() for _, _, i in BatchStream(splits.train, 100, seed=3).epoch(3)]
    assert a == b and a != c
    assert len(a) == len(splits.train) // 100 and all(len(i) == 100 for i in a)
    # the DataLoader path (per-item transform) yields the same indices and items
    lazy = splits.train.with_transform(lambda x: torch.as_tensor(x) * 1.0)
    batches = list(BatchStream(lazy, 100, seed=3).epoch(2))
    assert [i.tolist() for _, _, i in batches] == a
    x, y, idx = batches[0]
    assert torch.equal(x, splits.train.inputs[idx]) and torch.equal(
        y, torch.as_tensor(splits.train.targets[idx.numpy()])
    )
    with pytest.raises(DataError, match="fewer than one batch"):
        BatchStream(splits.train, 10_000)


def test_minibatch_epoch_learns_separable_data():
    torch.manual_seed(0)
    x = torch.randn(400, 2)
    y = (x[:, 0] > 0).long()
    ds = IndexedDataset(x, y.numpy(), num_classes=2)
    model = nn.Sequential(nn.Linear(2, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    stream = BatchStream(ds, 40, seed=0)
    trainer = Trainer(
        model,
        opt,
        MinibatchEpoch(model, opt, stream),
        evaluate=lambda: evaluate(model, BatchStream(ds, 400, shuffle=False), 2),
        epochs=5,
    )
    history = trainer.fit()
    assert history[-1]["test"]["acc"] > 0.95 and history[-1]["steps"] == 10


def test_uniform_selection_statistics_count_noisy_points():
    splits = load_digits(meta_per_class=0)
    noisy = np.zeros(len(splits.train), dtype=bool)
    noisy[::2] = True
    model = build_model("mlp", (64,), 10, {"hidden": [16]})
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    step = OnlineSelectionEpoch(
        model, opt, BatchStream(splits.train, 100, seed=0), UniformSelection(0), 50, noisy
    )
    stats = step.run_epoch(0)
    assert stats["selected"] == 50 * (len(splits.train) // 100)
    assert 0.35 < stats["selected_noisy"] / stats["selected"] < 0.65


def test_metrics():
    assert epochs_to_target([0.5, 0.8, 0.9, 0.85], [0.8, 0.9, 0.95]) == {
        "0.80": 2,
        "0.90": 3,
        "0.95": None,
    }
    s = mean_std([1, 3, None])
    assert s == {"mean": 2.0, "std": 1.0, "n": 2}
    assert mean_std([None])["mean"] is None
    assert math.isclose(mean_std([0.5])["std"], 0.0)


@pytest.mark.parametrize("loop", ["minibatch_epoch", "sgd_block"])
def test_plain_loops_report_a_non_finite_loss_at_the_end_of_the_epoch(loop):
    """The plain loop sums the loss on the device, counted in passes over the data or in
    blocks of steps (the BADS data baselines); a NaN input still ends the epoch with a
    NumericalError naming where it happened (not a NaN train_loss in the results)."""
    x = torch.randn(64, 5)
    x[37] = float("nan")
    data = IndexedDataset(x, torch.randint(0, 3, (64,)), num_classes=3)
    torch.manual_seed(0)
    model = build_model("mlp", (5,), 3, {"hidden": [8]})
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    stream = BatchStream(data, 16, seed=0)
    runner = MinibatchEpoch(model, opt, stream, steps=None if loop == "minibatch_epoch" else 4)
    where = "in epoch 1" if loop == "minibatch_epoch" else "in steps 1–4"
    with pytest.raises(NumericalError, match=f"non-finite training loss {where}; lower"):
        runner.run_epoch(0)
