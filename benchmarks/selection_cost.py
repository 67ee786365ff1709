"""Per-step cost of online selection rules, measured as ratios in one process.

Same model, same big batches (``n_B`` random inputs, 10 classes), same optimiser settings;
the zero-shot / validation logits are cached tables (the paper's §4.5 trick), so ``bayesian``
and ``rho_loss`` differ only in their scoring maths. ``bayesian`` is Eq. 16 in closed form
(the default estimator), ``bayesian_mc`` with ``S`` draws. Methods are timed round-robin (one
step each per repeat) and summarised by medians, so drift of a shared machine affects all
alike.

    python benchmarks/selection_cost.py --model mlp          # the digits MLP (64 → 256 → 256)
    python benchmarks/selection_cost.py --model resnet18     # CIFAR ResNet-18, 32x32 inputs
    python benchmarks/selection_cost.py --model mlp --world-size 2   # 1 vs 2 processes (gloo)
    python benchmarks/selection_cost.py --model mlp --scaling        # k = 10, 100, 1000 × n_B
        [--repeats 21] [--device cpu|cuda] [--precision 32|bf16-mixed|16-mixed]
        [--threads N] [--out runs/benchmarks/selection_cost.json]

Prints and writes ``bayesian_over_rho_loss`` (and ``bayesian_mc_over_rho_loss``),
``bayesian_over_uniform``, ``scoring_over_forward`` (Bayesian scoring maths alone over the
big-batch forward pass every scoring rule needs), the medians, and the split of a step into
scoring forward, selection maths, training step and posterior update (a separate,
synchronised pass). With ``--world-size N``: steps per second of the same global batches
with 1 and N processes. With ``--scaling``: for ``k`` = 10, 100, 1000 classes and ``n_B`` =
320, 1280, the milliseconds of a step of each method and of the Bayesian scoring maths, per
step and per point, for both estimators.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import time

import torch
import torch.distributed as tdist
import torch.multiprocessing as mp

from bayes_dps.data import BatchStream, IndexedDataset
from bayes_dps.inference import LastLayerKFACLaplace
from bayes_dps.io import atomic_write_json
from bayes_dps.methods.online import OnlineSelectionEpoch
from bayes_dps.models import build_model
from bayes_dps.runs.provenance import git_commit
from bayes_dps.selection import BayesianSelection, BigBatch, RhoLossSelection, UniformSelection
from bayes_dps.selection.predictors import CachedLogits
from bayes_dps.training.devices import resolve_device, synchronize
from bayes_dps.training.precision import autocast_for

SHAPES = {"mlp": (64,), "resnet18": (3, 32, 32), "resnet32": (3, 32, 32)}
METHODS = ("uniform", "rho_loss", "bayesian", "bayesian_mc", "bayesian_amortised")


def timed(device, fn, *args):
    """``(seconds, fn(*args))`` with the device synchronised around the call."""
    synchronize(device)
    t0 = time.perf_counter()
    out = fn(*args)
    synchronize(device)
    return time.perf_counter() - t0, out


def run_block(loop, block) -> None:
    """Consecutive steps of one method (a block spans amortised refreshes fairly)."""
    for x, y, idx in block:
        loop.step(x, y, idx)


def make_loops(args, device, profile=False):
    torch.manual_seed(0)
    shape, k = SHAPES[args.model], args.classes
    n = 8 * args.n_big
    data = IndexedDataset(torch.randn(n, *shape), torch.randint(0, k, (n,)), num_classes=k)
    table = CachedLogits(torch.randn(n, k), "benchmark").to(device)
    autocast = autocast_for(args.precision, device)
    loops = {}
    for name in METHODS:
        torch.manual_seed(0)
        options = {"hidden": [256, 256]} if args.model == "mlp" else {}
        model = build_model(args.model, shape, k, options).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        if name == "uniform":
            rule = UniformSelection(0)
        elif name == "rho_loss":
            rule = RhoLossSelection(table)
        else:
            amortised = name == "bayesian_amortised"
            post = LastLayerKFACLaplace(
                model.feature_dim, k, n_e=500, tau0=1.0, device=device,
                refresh_every=args.refresh_every if amortised else 1,
                variance_rank=min(args.variance_rank, model.feature_dim) if amortised else 0,
            )  # fmt: skip
            estimator = "mc" if name == "bayesian_mc" else "deterministic"
            rule = BayesianSelection(
                post, table, alpha=0.3, estimator=estimator, num_samples=args.num_samples
            )
        stream = BatchStream(data, args.n_big, seed=0, device=device)
        loops[name] = OnlineSelectionEpoch(
            model, opt, stream, rule, args.n_small, autocast=autocast, profile=profile
        )
        loops[name].selector.check_inputs = False
        if hasattr(rule, "check_finite"):
            rule.check_finite = False
    batches = list(BatchStream(data, args.n_big, seed=0, device=device).epoch(0))
    return loops, batches


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=21)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--n-big", type=int, default=320)
    p.add_argument("--n-small", type=int, default=32)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--num-samples", type=int, default=100, help="S of Eq. 16 (bayesian_mc)")
    p.add_argument("--refresh-every", type=int, default=8, help="m of bayesian_amortised")
    p.add_argument("--variance-rank", type=int, default=32, help="r of bayesian_amortised")
    p.add_argument("--block", type=int, default=8, help="consecutive steps timed together")
    p.add_argument("--model", default="mlp", choices=sorted(SHAPES))
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="32", choices=["32", "bf16-mixed", "16-mixed"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--world-size", type=int, default=1)
    p.add_argument("--scaling", action="store_true", help="k = 10, 100, 1000 and n_B = 320, 1280")
    p.add_argument("--out", default="runs/benchmarks/selection_cost.json")
    return p.parse_args(argv)


def medians(args, device) -> dict[str, float]:
    """Median seconds of a step of each method, and of the Bayesian scoring alone and the
    big-batch forward it needs (same batches, round-robin)."""
    loops, batches = make_loops(args, device)
    times: dict[str, list[float]] = {name: [] for name in loops}
    extra = ("forward", "scoring", "scoring_mc")
    times.update({k: [] for k in extra})
    names = list(loops)
    for r in range(args.warmup + args.repeats):
        block = [batches[(r * args.block + j) % len(batches)] for j in range(args.block)]
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotated order
            t, _ = timed(device, run_block, loops[name], block)
            if r >= args.warmup:
                times[name].append(t / args.block)
        x, y, idx = block[0]
        bayes = loops["bayesian"]
        t_fwd, (logits, feats) = timed(device, bayes.score_forward, x)
        big = BigBatch(x, y, idx, logits, feats)
        t_score, _ = timed(device, bayes.rule.scores, big)
        t_mc, _ = timed(device, loops["bayesian_mc"].rule.scores, big)
        if r >= args.warmup:
            times["forward"].append(t_fwd)
            times["scoring"].append(t_score)
            times["scoring_mc"].append(t_mc)
    return {name: statistics.median(v) for name, v in times.items()}


def scaling_grid() -> list[tuple[int, int]]:
    """``(k, n_B)`` of the scaling mode."""
    return [(k, n_big) for k in (10, 100, 1000) for n_big in (320, 1280)]


def scaling(args, device) -> dict:
    """Milliseconds per step and microseconds per point by classes and big-batch size."""
    out = {}
    for k, n_big in scaling_grid():
        a = argparse.Namespace(**{**vars(args), "classes": k, "n_big": n_big,
                                  "n_small": max(n_big // 10, 1)})  # fmt: skip
        med = medians(a, device)
        out[f"k={k},n_B={n_big}"] = {
            "ms_per_step": {m: 1e3 * v for m, v in med.items()},
            "us_per_point": {m: 1e6 * v / n_big for m, v in med.items()},
        }
        print(f"k={k:5d} n_B={n_big:5d} ms/step " + " ".join(
            f"{m} {1e3 * v:.2f}" for m, v in med.items()), flush=True)  # fmt: skip
    return out


def main(argv=None) -> dict:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.scaling:
        result = {"scaling": scaling(args, device), "setup": setup_of(args, device)}
        result["provenance"] = {"git_commit": git_commit()}
        atomic_write_json(args.out, result)
        return result
    med = medians(args, device)

    # the split of a step into its phases (synchronised at each phase boundary)
    prof_loops, batches = make_loops(args, device, profile=True)
    split = {}
    steps = args.repeats * args.block
    for name, loop in prof_loops.items():
        for r in range(args.warmup + steps):
            if r == args.warmup:
                loop.timer.take()
            loop.step(*batches[r % len(batches)])
        split[name] = {k: 1e3 * v / steps for k, v in loop.timer.take().items()}

    result = {
        "bayesian_over_rho_loss": med["bayesian"] / med["rho_loss"],
        "bayesian_mc_over_rho_loss": med["bayesian_mc"] / med["rho_loss"],
        "bayesian_amortised_over_rho_loss": med["bayesian_amortised"] / med["rho_loss"],
        "bayesian_over_uniform": med["bayesian"] / med["uniform"],
        "scoring_over_forward": med["scoring"] / med["forward"],
        "median_ms": {k: 1e3 * v for k, v in med.items()},
        "split_ms_per_step": split,
        "setup": setup_of(args, device),
        "provenance": {"git_commit": git_commit()},
    }
    if args.world_size > 1:
        result["throughput"] = throughput(args)
    print(json.dumps(result, indent=2))
    atomic_write_json(args.out, result)  # its folder is made if needed
    return result


def setup_of(args, device) -> dict:
    return {
        "model": args.model, "n_B": args.n_big, "n_b": args.n_small, "classes": args.classes,
        "S": args.num_samples, "repeats": args.repeats, "device": str(device),
        "precision": args.precision, "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }  # fmt: skip


# ----------------------------------------------------------- 1 vs N processes
def _steps_per_second(rank: int, world: int, port: int, args, queue) -> None:
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        tdist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    loops, batches = make_loops(args, device)
    out = {}
    for name in METHODS:
        loop = loops[name]
        for b in batches[: args.warmup]:
            loop.step(*b)
        if world > 1:
            tdist.barrier()
        t0 = time.perf_counter()
        for r in range(args.repeats):
            loop.step(*batches[r % len(batches)])
        if world > 1:
            tdist.barrier()
        out[name] = args.repeats / (time.perf_counter() - t0)
    if rank == 0:
        queue.put(out)
    if world > 1:
        tdist.destroy_process_group()


def throughput(args) -> dict:
    """Steps per second of the same global batches with 1 and ``--world-size`` processes, one
    thread each (CPU, gloo)."""
    ctx = mp.get_context("spawn")
    out = {}
    for world in (1, args.world_size):
        queue = ctx.Queue()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        procs = [ctx.Process(target=_steps_per_second, args=(r, world, port, args, queue))
                 for r in range(world)]  # fmt: skip
        for proc in procs:
            proc.start()
        out[f"steps_per_second_{world}_process"] = queue.get()
        for proc in procs:
            proc.join()
    return out


if __name__ == "__main__":
    main()
