"""PyTorch Lightning: the modules select, sample and train as the package's own loops, and
resume exactly from Lightning's checkpoints."""

from __future__ import annotations

import pytest
import torch
from integration_helpers import (
    N,
    blobs,
    meta_set,
    mlp,
    own_bads,
    own_online,
    params,
    same,
    sampler,
    selector,
)

L = pytest.importorskip("lightning")

from bayes_dps.errors import ConfigError, DataError  # noqa: E402
from bayes_dps.integrations import BigBatchLoader  # noqa: E402
from bayes_dps.integrations.lightning import BADSModule, OnlineSelectionModule  # noqa: E402


def trainer(tmp_path, epochs: int, **kw) -> L.Trainer:
    base = dict(accelerator="cpu", devices=1, max_epochs=epochs, logger=False,
                enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False, default_root_dir=str(tmp_path),
                use_distributed_sampler=False, log_every_n_steps=1)  # fmt: skip
    return L.Trainer(**{**base, **kw})


def sgd(params_):
    return torch.optim.SGD(params_, lr=0.1)


def data():
    x, y = blobs()
    return list(zip(x, y, strict=True)), x, y


def test_online_module_selects_and_trains_as_the_package_loop(tmp_path):
    rows, x, y = data()
    chosen, ref = own_online(mlp(), x, y, n_big=24, n_b=6, epochs=2)
    model = mlp()
    module = OnlineSelectionModule(model, selector(model), n_b=6, optimizer=sgd,
                                   groups={"first_class": (y == 0).numpy()})  # fmt: skip
    got = []
    observe = module.method_log.observe
    module.method_log.observe = lambda idx: (got.append(idx.clone()), observe(idx))[1]
    fit = trainer(tmp_path, 2)
    fit.fit(module, BigBatchLoader(rows, 24, seed=0))
    assert len(got) == len(chosen)
    assert all(torch.equal(a.cpu(), b.cpu()) for a, b in zip(got, chosen, strict=True))
    assert same(params(model), ref)
    assert {"selection/model", "selection/first_class", "train_loss"} <= set(fit.logged_metrics)


def bads(theta="sgld"):
    xm, ym = meta_set()
    model = mlp()
    s = sampler(model)
    meta = BigBatchLoader(list(zip(xm, ym, strict=True)), 16, seed=1)
    opt = sgd if theta == "optimizer" else None
    return BADSModule(model, s, meta, theta=theta, optimizer=opt), model, s


def test_bads_module_moves_theta_and_w_as_the_package_loop(tmp_path):
    rows, x, y = data()
    xm, ym = meta_set()
    w_ref, ref = own_bads(mlp(), x, y, xm, ym, b=16, steps=2 * N // 16)
    module, model, s = bads()
    fit = trainer(tmp_path, 2)
    fit.fit(module, BigBatchLoader(rows, 16, seed=0))
    assert s.num_steps == 2 * N // 16
    assert torch.equal(s.w, w_ref) and same(params(model), ref)
    assert {"bads/w_mean", "bads/log_joint"} <= set(fit.logged_metrics)


@pytest.mark.parametrize("theta", ["sgld", "optimizer"])
def test_bads_steps_count_as_lightning_steps(tmp_path, theta):
    """``max_steps`` stops the run: the kernel's θ move counts as an optimiser step."""
    rows, _, _ = data()
    module, _, s = bads(theta)
    fit = trainer(tmp_path, 3, max_steps=9)  # 3 epochs: 18 steps, unless max_steps stops it
    fit.fit(module, BigBatchLoader(rows, 16, seed=0))
    assert fit.global_step == s.num_steps == 9


@pytest.mark.parametrize("kind", ["online", "bads_sgld", "bads_optimizer"])
def test_resumes_exactly_from_an_epoch_end_checkpoint(tmp_path, kind):
    rows, _, _ = data()

    def build():
        if kind == "online":
            model = mlp()
            sel = selector(model)
            module = OnlineSelectionModule(model, sel, n_b=6, optimizer=sgd)
            return module, model, lambda: sel.state_dict()["posterior"]["A"]
        module, model, s = bads(kind.removeprefix("bads_"))
        return module, model, lambda: s.w

    loader = lambda: BigBatchLoader(rows, 24, seed=0)  # noqa: E731
    full, model, state = build()
    trainer(tmp_path / "a", 3).fit(full, loader())
    first, _, _ = build()
    cut = trainer(tmp_path / "b", 1)
    cut.fit(first, loader())
    cut.save_checkpoint(tmp_path / "one.ckpt")
    again, model2, state2 = build()
    trainer(tmp_path / "c", 3).fit(again, loader(), ckpt_path=tmp_path / "one.ckpt")
    assert same(params(model2), params(model))
    assert torch.equal(state2(), state())


def test_a_resume_whose_workers_fetched_another_epoch_is_refused(tmp_path):
    """Lightning makes a resumed run's first iterator before it sets the epoch; worker
    processes fetch their indices then, so the resumed epoch would replay epoch 0."""
    rows, _, _ = data()

    def build():
        model = mlp()
        return OnlineSelectionModule(model, selector(model), n_b=6, optimizer=sgd)

    cut = trainer(tmp_path / "a", 1)
    cut.fit(build(), BigBatchLoader(rows, 24, seed=0))
    cut.save_checkpoint(tmp_path / "one.ckpt")
    loader = BigBatchLoader(rows, 24, seed=0, num_workers=1)
    with pytest.raises(ConfigError, match="resume with num_workers=0"):
        trainer(tmp_path / "b", 2).fit(build(), loader, ckpt_path=tmp_path / "one.ckpt")


def test_bad_input_is_refused(tmp_path):
    rows, _, _ = data()
    model = mlp()
    module = OnlineSelectionModule(model, selector(model), n_b=40, optimizer=sgd)
    with pytest.raises(ConfigError, match=r"n_b=40 .*n_B=24"):
        trainer(tmp_path, 1).fit(module, BigBatchLoader(rows, 24))
    plain = torch.utils.data.DataLoader(rows, batch_size=24)  # (x, y): no index
    module = OnlineSelectionModule(model, selector(model), n_b=6, optimizer=sgd)
    with pytest.raises(DataError, match="BigBatchLoader"):
        trainer(tmp_path, 1).fit(module, plain)
    with pytest.raises(ConfigError, match="accumulate_grad_batches=2"):
        trainer(tmp_path, 1, accumulate_grad_batches=2).fit(module, BigBatchLoader(rows, 24))
    with pytest.raises(ConfigError, match="needs optimizer="):
        BADSModule(model, sampler(model), BigBatchLoader(rows[:24], 8), theta="optimizer")


def test_two_ddp_processes_select_and_sample_as_one(tmp_path):
    """Lightning's DDP on 2 CPU processes (gloo, ``torchrun``; one launch per world size runs
    the three modules): the same selected indices, and ``w`` and the parameters equal to one
    process's up to the order of float64 sums."""
    import json
    import os
    import subprocess
    import sys

    kinds = ("online", "bads_sgld", "bads_optimizer")
    worker = os.path.join(os.path.dirname(__file__), "lightning_ddp_worker.py")
    got = {}
    for n in (1, 2):
        out = tmp_path / f"{n}.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={n}", worker, ",".join(kinds), str(out)]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
        got[n] = json.loads(out.read_text())
    for kind in kinds:
        one, two = got[1][kind], got[2][kind]
        assert one["steps"] == two["steps"] == 2 * (N // (24 if kind == "online" else 16)), kind
        assert one["chosen"] == two["chosen"], kind
        assert len(one["w"]) == (0 if kind == "online" else N), kind
        w1, w2 = torch.tensor(one["w"]), torch.tensor(two["w"])
        torch.testing.assert_close(w2, w1, rtol=0, atol=1e-12, msg=kind)
        for p, q in zip(two["params"], one["params"], strict=True):
            torch.testing.assert_close(torch.tensor(p), torch.tensor(q), rtol=0, atol=1e-12,
                                       msg=kind)  # fmt: skip
