"""Per-step cost of online selection rules, measured as ratios in one process.

Same model, same big batches (``n_B`` random inputs, 10 classes), same optimiser settings;
the zero-shot / validation logits are cached tables (the paper's §4.5 trick), so ``bayesian``
and ``rho_loss`` differ only in their scoring maths. ``bayesian`` is Eq. 16 in closed form
(the default estimator), ``bayesian_mc`` with ``S`` draws, ``bayesian_amortised`` the closed
form with the amortised posterior (``refresh_every = m``, ``variance_rank = r``). Each method
is timed over blocks of ``--block`` consecutive steps (a real run steps one method back to
back, and a block spans the amortised refreshes), the methods round-robin in an order rotated
every repeat; a ratio is the median over repeats of the ratio of two blocks of one repeat,
which ran back to back, so drift of a shared machine cancels in each.

    python benchmarks/selection_cost.py --model mlp          # the digits MLP (64 → 256 → 256)
    python benchmarks/selection_cost.py --model lenet5       # LeNet-5, 28x28 grey inputs
    python benchmarks/selection_cost.py --model resnet18     # CIFAR ResNet-18, 32x32 inputs
    python benchmarks/selection_cost.py --model mlp --world-size 2   # 1 vs 2 processes (gloo)
    python benchmarks/selection_cost.py --model mlp --scaling d      # one axis: n_B, d or k
        [--repeats 21] [--block 8] [--methods uniform,rho_loss,...] [--refresh-every 8]
        [--variance-rank 32] [--width 256] [--device cpu|cuda]
        [--precision 32|bf16-mixed|16-mixed] [--threads N]
        [--out runs/benchmarks/selection_cost.json]

Prints and writes each Bayesian rule's step over a ``rho_loss`` step, ``bayesian_over_uniform``,
``scoring_over_forward`` (the exact Bayesian scoring maths, its factorisation included, over
the big-batch forward pass every scoring rule needs), the medians (``factorisation*``: one
refresh of the posterior's factors, as a step does it; ``scoring*``: the scoring with the
factorisation cached), and the split of a step into scoring forward, selection maths,
training step and posterior update (a separate, synchronised pass). With ``--world-size N``:
steps per second of the same global batches with 1 and N processes. With ``--scaling AXIS``:
the same medians at each value of ``n_B`` (``n_b = n_B / 10``), the feature dimension ``d``
(the MLP's width) or the classes ``k`` (:data:`AXES`, or ``--values``), per step and per point.
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

SHAPES = {"mlp": (64,), "lenet5": (1, 28, 28), "resnet18": (3, 32, 32), "resnet32": (3, 32, 32)}
METHODS = ("uniform", "rho_loss", "bayesian", "bayesian_mc", "bayesian_amortised")
#: the values of each scaling axis (``--scaling AXIS``), the others at their defaults
AXES = {
    "n_B": (80, 160, 320, 640, 1280, 2560),
    "d": (64, 128, 256, 512, 1024, 2048),
    "k": (10, 100, 1000),
}
#: the option each axis sets
AXIS_OPTION = {"n_B": "n_big", "d": "width", "k": "classes"}


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
    for name in args.methods:
        torch.manual_seed(0)
        options = {"hidden": [args.width, args.width]} if args.model == "mlp" else {}
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
    p.add_argument("--variance-rank", type=int, default=16, help="r of bayesian_amortised")
    p.add_argument("--block", type=int, default=8, help="consecutive steps timed together")
    p.add_argument("--model", default="mlp", choices=sorted(SHAPES))
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="32", choices=["32", "bf16-mixed", "16-mixed"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--world-size", type=int, default=1)
    p.add_argument("--width", type=int, default=256, help="mlp: hidden width = feature dim d")
    p.add_argument("--methods", type=lambda v: tuple(v.split(",")), default=METHODS)
    p.add_argument("--scaling", choices=sorted(AXES), help="vary one axis (module docstring)")
    p.add_argument("--values", type=int, nargs="+", help="--scaling: the axis's values")
    p.add_argument("--out", default="runs/benchmarks/selection_cost.json")
    args = p.parse_args(argv)
    unknown = sorted(set(args.methods) - set(METHODS))
    if unknown:
        p.error(f"--methods: unknown {unknown}; choose from {', '.join(METHODS)}")
    return args


def timings(args, device) -> dict[str, list[float]]:
    """Seconds of a step of each method per repeat (blocks of consecutive steps, round-robin
    in a rotated order), then, in a separate pass on the same batches, of the big-batch forward
    every scoring rule needs and of each Bayesian rule's scoring maths: ``scoring*`` with its
    factorisation cached, ``factorisation*`` a fresh one (a separate pass, so that the steps'
    refresh cadence is untouched)."""
    loops, batches = make_loops(args, device)
    times: dict[str, list[float]] = {name: [] for name in loops}
    names = list(loops)
    for r in range(args.warmup + args.repeats):
        block = [batches[(r * args.block + j) % len(batches)] for j in range(args.block)]
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotated order
            t, _ = timed(device, run_block, loops[name], block)
            if r >= args.warmup:
                times[name].append(t / args.block)
    bayes = {"": "bayesian", "_mc": "bayesian_mc", "_amortised": "bayesian_amortised"}
    bayes = {suffix: loops[name] for suffix, name in bayes.items() if name in loops}
    for r in range(args.warmup + args.repeats):
        x, y, idx = batches[r % len(batches)]
        for suffix, loop in bayes.items():
            t_fwd, (logits, feats) = timed(device, loop.score_forward, x)
            t_fact, _ = timed(device, loop.rule.posterior.refresh, False)  # as a step's
            t_score, _ = timed(device, loop.rule.scores, BigBatch(x, y, idx, logits, feats))
            if r >= args.warmup:
                if suffix == "":  # the forward is the same for every Bayesian rule
                    times.setdefault("forward", []).append(t_fwd)
                times.setdefault("factorisation" + suffix, []).append(t_fact)
                times.setdefault("scoring" + suffix, []).append(t_score)
    return times


def medians(times: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(v) for name, v in times.items()}


def scaling(args, device) -> dict:
    """Milliseconds per step (and per point) of each method at each value of one axis."""
    out = {}
    option = AXIS_OPTION[args.scaling]
    for value in args.values or AXES[args.scaling]:
        a = argparse.Namespace(**{**vars(args), option: value})
        if args.scaling == "n_B":
            a.n_small = max(value // 10, 1)
        times = timings(a, device)
        med = medians(times)
        out[str(value)] = {
            **ratios(times),
            "ms_per_step": {m: 1e3 * v for m, v in med.items()},
            "us_per_point": {m: 1e6 * v / a.n_big for m, v in med.items()},
        }
        print(f"{args.scaling}={value:5d} ms/step " + " ".join(
            f"{m} {1e3 * v:.2f}" for m, v in med.items()), flush=True)  # fmt: skip
    return out


def main(argv=None) -> dict:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.scaling:
        result = {"axis": args.scaling, "scaling": scaling(args, device),
                  "setup": setup_of(args, device)}  # fmt: skip
        result["provenance"] = {"git_commit": git_commit()}
        atomic_write_json(args.out, result)
        return result
    times = timings(args, device)
    med = medians(times)

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

    result = ratios(times)
    result.update({
        "median_ms": {k: 1e3 * v for k, v in med.items()},
        "split_ms_per_step": split,
        "setup": setup_of(args, device),
        "provenance": {"git_commit": git_commit()},
    })  # fmt: skip
    if args.world_size > 1:
        result["throughput"] = throughput(args)
    print(json.dumps(result, indent=2))
    atomic_write_json(args.out, result)  # its folder is made if needed
    return result


def ratios(times: dict[str, list[float]]) -> dict[str, float]:
    """Each Bayesian rule's step over a ``rho_loss`` step, ``bayesian`` over ``uniform``, and
    the exact scoring maths (factorisation included) over the big-batch forward: medians over
    the repeats of the ratio within a repeat (the two blocks ran back to back, so a shared
    machine's drift cancels in each ratio)."""

    def paired(top: list[float], bottom: list[float]) -> float:
        return statistics.median(a / b for a, b in zip(top, bottom, strict=True))

    out = {}
    if "rho_loss" in times:
        for name in ("bayesian", "bayesian_mc", "bayesian_amortised"):
            if name in times:
                out[f"{name}_over_rho_loss"] = paired(times[name], times["rho_loss"])
    if "bayesian" in times and "uniform" in times:
        out["bayesian_over_uniform"] = paired(times["bayesian"], times["uniform"])
    if "scoring" in times:
        maths = [a + b for a, b in zip(times["scoring"], times["factorisation"], strict=True)]
        out["scoring_over_forward"] = paired(maths, times["forward"])
    return out


def setup_of(args, device) -> dict:
    return {
        "model": args.model, "n_B": args.n_big, "n_b": args.n_small, "classes": args.classes,
        "width": args.width if args.model == "mlp" else None, "methods": list(args.methods),
        "refresh_every": args.refresh_every, "variance_rank": args.variance_rank,
        "block": args.block,
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
    for name in args.methods:
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
