"""``torch.distributed``: world size changes where things are computed, not what.

Two CPU processes (gloo, ``torch.multiprocessing.spawn``) against one:

* online selection over 24 steps for ``bayesian``, ``rho_loss`` and ``uniform`` picks exactly
  the same indices; parameters and the KFAC factors ``A``, ``G`` agree to float tolerance;
* a BADS chain (SGLD and Gibbs, with the normaliser's auxiliary chain) gives the same ``θ``,
  ``w`` and trace (same global batches, same noise);
* a process other than rank 0 never writes a file.

And with the real launcher: a 2-process ``torchrun`` run killed mid-way resumes to the results
of an uninterrupted one, and a two-"node" run on localhost (two launchers, ``--nnodes=2``)
completes. The models run in float64 so that the only difference between the world sizes —
the order of floating-point sums — stays far below anything that could flip a selection.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as tdist
import torch.multiprocessing as mp
from helpers import without_timings

from bayes_dps import BADSSampler, truncated_normal
from bayes_dps.data import BatchStream, load_data
from bayes_dps.distributed import local_shard
from bayes_dps.inference import LastLayerKFACLaplace
from bayes_dps.methods.online.loop import OnlineSelectionEpoch
from bayes_dps.models import build_model
from bayes_dps.selection import BayesianSelection, RhoLossSelection, UniformSelection
from bayes_dps.selection.predictors import CachedLogits

STEPS = 24


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def digits64():
    splits = load_data({"name": "digits", "noise": 0.2, "meta_per_class": 4})
    splits.train.inputs = splits.train.inputs.double()
    return splits


def online_run(rule_name: str) -> dict:
    splits = digits64()
    torch.manual_seed(0)
    model = build_model("mlp", splits.input_shape, 10, {"hidden": [32]}).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    table = CachedLogits(
        torch.randn(len(splits.train), 10, generator=torch.Generator().manual_seed(1)).double(),
        "fp",
    )
    if rule_name == "bayesian":
        post = LastLayerKFACLaplace(32, 10, n_e=100, dtype=torch.float64)
        rule = BayesianSelection(post, table, alpha=0.3, num_samples=20, seed=3)
    elif rule_name == "rho_loss":
        rule = RhoLossSelection(table)
    else:
        rule = UniformSelection(seed=3)
    stream = BatchStream(splits.train, 64, seed=0)
    epoch = OnlineSelectionEpoch(model, opt, stream, rule, n_b=8)
    chosen = []
    batches = [b for e in range(3) for b in stream.epoch(e)][:STEPS]
    for x, y, idx in batches:
        picked, _ = epoch.step(x, y, idx)
        chosen.append(picked.idx.tolist())
    out = {"chosen": chosen, "params": [p.detach().clone() for p in model.parameters()]}
    if rule_name == "bayesian":
        out["A"], out["G"] = post.A.clone(), post.G.clone()
    return out


def bads_run(kernel: str) -> dict:
    splits = digits64()
    splits.meta.inputs = splits.meta.inputs.double()
    torch.manual_seed(0)
    model = build_model("mlp", splits.input_shape, 10, {"hidden": [16]}).double()
    sampler = BADSSampler(
        model, len(splits.train), len(splits.meta), prior=truncated_normal(0.5, 1.0),
        eta_theta=1e-3, eta_w=0.2, temperature=0.01, kernel=kernel, rho_w=5,
        normaliser_weight=0.5, seed=4, thin=2, normaliser_window=3, normaliser_every=2,
    )  # fmt: skip
    train, meta = BatchStream(splits.train, 32, seed=0), BatchStream(splits.meta, 8, seed=1)
    t_batches = [b for e in range(2) for b in train.epoch(e)][:STEPS]
    m_batches = [b for e in range(10) for b in meta.epoch(e)][:STEPS]
    for bt, bm in zip(t_batches, m_batches, strict=True):
        bt = (bt[0].double(), bt[1], bt[2])
        bm = (bm[0].double(), bm[1], bm[2])
        sampler.step(local_shard(bt), local_shard(bm))
    return {
        "params": [p.detach().clone() for p in model.parameters()],
        "w": sampler.w.clone(),
        "trace": [torch.as_tensor(t) for t in sampler.recorder.trace],
        "theta_aux": {k: v.clone() for k, v in sampler.theta_aux.items()},
    }


def everything() -> dict:
    out = {f"online_{r}": online_run(r) for r in ("bayesian", "rho_loss", "uniform")}
    out.update({f"bads_{k}": bads_run(k) for k in ("sgld", "gibbs")})
    return out


def _worker(rank: int, world: int, port: int, folder: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    tdist.init_process_group("gloo", rank=rank, world_size=world)
    if rank != 0:  # only rank 0 may write files
        import bayes_dps.io

        def refuse(*args, **kwargs):
            raise AssertionError(f"rank {rank} tried to write {args[0]}")

        bayes_dps.io.atomic_write = refuse
    try:
        out = everything()
        out["runners"] = runners(Path(folder))  # the experiment runners, writing files
        torch.save(out, Path(folder) / f"rank{rank}.pt.tmp")  # (plain torch.save)
    finally:
        tdist.destroy_process_group()
    os.replace(Path(folder) / f"rank{rank}.pt.tmp", Path(folder) / f"rank{rank}.pt")


def runners(folder: Path) -> dict:
    """A tiny online and BADS experiment through the package's runners (checkpoints, CSV,
    records, results.json): under torch.distributed every rank runs them, rank 0 writes."""
    from bayes_dps.config import load_config
    from bayes_dps.methods.bads.experiment import run_bads_experiment
    from bayes_dps.methods.online.experiment import run_online_experiment

    common = ["seeds=1", "model_options={hidden: [8]}", "progress=false", "device=cpu"]
    online = load_config(None, [*common, "dataset.meta_per_class=4", "epochs=2", "n_B=64",
                                "n_b=8", "methods=[uniform, rho_loss]", "holdout.epochs=2"],
                         "online")  # fmt: skip
    bads = load_config(None, [*common, "dataset.noise=0.3", "dataset.meta_per_class=4",
                              "steps=20", "eval_every=10", "batch_size=16",
                              "meta_batch_size=8", "methods=[bads, blo, mixing]"],
                       "bads")  # fmt: skip
    quiet = lambda _: None  # noqa: E731
    res_online = run_online_experiment(online, folder / "online", log=quiet)
    res_bads = run_bads_experiment(bads, folder / "bads", log=quiet)[0]
    return {"online": without_timings(res_online), "bads": without_timings(res_bads)}


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(2, free_port(), str(folder)), nprocs=2, join=True)
    return [torch.load(folder / f"rank{r}.pt", weights_only=False) for r in (0, 1)]


@pytest.fixture(scope="module")
def one_process():
    return everything()


def test_every_rank_runs_the_runners_and_only_rank_0_writes(two_processes, tmp_path_factory):
    """Rank 1's file writer raises if called: the runners completed on both ranks, so only
    rank 0 wrote; both ranks hold the same results."""
    r0, r1 = (out["runners"] for out in two_processes)
    assert r0 == r1
    assert r0["online"]["world_size"] == r0["bads"]["world_size"] == 2


def close(a, b, what):
    for x, y in zip(a, b, strict=True):
        assert torch.allclose(x, y, rtol=1e-9, atol=1e-11), what


@pytest.mark.parametrize("rule", ["bayesian", "rho_loss", "uniform"])
def test_online_selection_world_two_equals_world_one(one_process, two_processes, rule):
    ref = one_process[f"online_{rule}"]
    for rank_out in two_processes:
        got = rank_out[f"online_{rule}"]
        assert got["chosen"] == ref["chosen"]  # the same points at every one of the 24 steps
        close(got["params"], ref["params"], "parameters")
        if rule == "bayesian":
            close([got["A"], got["G"]], [ref["A"], ref["G"]], "KFAC factors")


@pytest.mark.parametrize("kernel", ["sgld", "gibbs"])
def test_bads_world_two_equals_world_one(one_process, two_processes, kernel):
    ref = one_process[f"bads_{kernel}"]
    for rank_out in two_processes:
        got = rank_out[f"bads_{kernel}"]
        close(got["params"], ref["params"], "θ")
        close(list(got["theta_aux"].values()), list(ref["theta_aux"].values()), "θ'")
        # w (and so its trace) is float32 whatever the model's dtype: a float64 drift that
        # differs in its last bits between the world sizes (summation order) can round to
        # the neighbouring float32, one ulp of w, and each of the 24 steps can add one —
        # so the bound is 32 float32 ulps of a weight in [0, 1], not float64's 1e-9
        f32 = 32 * torch.finfo(torch.float32).eps
        assert torch.allclose(got["w"].double(), ref["w"].double(), rtol=0, atol=f32)
        for a, b in zip(got["trace"], ref["trace"], strict=True):
            assert torch.allclose(a.double(), b.double(), rtol=0, atol=f32), "trace"


# ------------------------------------------------------------- the real launcher
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
ARGS = [
    "-m", "bayes_dps.cli", "bads", "--config", "digits_denoise", "--quiet",
    "--set", "steps=120", "--set", "eval_every=20", "--set", "seeds=2",
    "--set", "methods=[bads, mixing]", "--set", "bads.s_avg=40", "--set", "bads.thin=4",
    "--set", "model_options={hidden: [32]}",
]  # fmt: skip


def torchrun(out: Path, *extra: str, nodes: int = 1, node_rank: int = 0, port: int = 0):
    launcher = [*TORCHRUN, f"--nnodes={nodes}", f"--nproc_per_node={2 if nodes == 1 else 1}"]
    if nodes > 1:
        launcher += [f"--node_rank={node_rank}", "--master_addr=127.0.0.1",
                     f"--master_port={port}"]  # fmt: skip
    else:
        launcher += ["--standalone"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return launcher + ARGS + ["--out", str(out), *extra], env


def results(folder: Path) -> dict:
    return without_timings(json.loads((folder / "results.json").read_text()))


def test_a_killed_two_process_run_resumes_to_the_same_results(tmp_path):
    cmd, env = torchrun(tmp_path / "ref")
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    duration = time.perf_counter() - t0
    cmd, env = torchrun(tmp_path / "cut")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    try:
        proc.wait(timeout=0.7 * duration)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both workers
        proc.wait()
    cmd, env = torchrun(tmp_path / "cut", "--resume")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    ref, again = results(tmp_path / "ref"), results(tmp_path / "cut")
    assert ref["world_size"] == again["world_size"] == 2
    assert again == ref


def test_two_nodes_on_localhost(tmp_path):
    port = free_port()
    procs = []
    for node in (0, 1):
        cmd, env = torchrun(tmp_path / "nodes", nodes=2, node_rank=node, port=port)
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))  # fmt: skip
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][1][-2000:] + outs[1][1][-2000:]
    res = json.loads((tmp_path / "nodes" / "results.json").read_text())
    assert res["world_size"] == 2 and set(res["methods"]) == {"bads", "mixing"}
    assert "BADS:" in outs[0][0] and "BADS:" not in outs[1][0]  # rank 0 alone prints
