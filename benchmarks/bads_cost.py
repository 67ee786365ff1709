"""Per-step cost of BADS and BLO against a plain SGD step on the same ``B_t ∪ B_m``.

The BADS paper's cost claim (DESIGN §2): a BADS step costs about one SGD step on
``B_t ∪ B_m`` (one forward/backward, plus noise and a weight update for the minibatch only);
a BLO step (L2RW's one-step look-ahead meta-gradient) costs several. Same model (ResNet-32,
32×32 inputs, 10 classes), same batches, one process; methods are timed round-robin and
summarised by medians so drift of a shared machine hits all alike.

Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` around the steps in this process;
on CPU, each method runs in a fresh child process and reports the growth of its resident set
high-water mark (``VmHWM``) over its size after setting up the model and the batches.

    python benchmarks/bads_cost.py [--repeats 7] [--device cpu] [--out bads_cost.json]

Prints and writes ``{"bads_over_plain", "blo_over_plain", "bads_memory_over_plain",
"blo_memory_over_plain"}`` plus the raw medians (seconds, bytes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

from bayes_dps.inference.bads_sampler import BADSSampler
from bayes_dps.models import build_model
from bayes_dps.models.priors import truncated_normal
from bayes_dps.training.blo import lookahead_weights
from bayes_dps.training.runtime import resolve_device, synchronize
from bayes_dps.training.trainer import sgd_step

METHODS = ("plain", "bads", "blo")


def setup(args, device):
    """The model and one ``B_t``/``B_m`` pair, and a step function per method."""
    torch.manual_seed(0)
    k, n_t = 10, 50_000
    model = build_model(args.model, (3, 32, 32), k).to(device)
    x_t = torch.randn(args.batch, 3, 32, 32, device=device)
    y_t = torch.randint(0, k, (args.batch,), device=device)
    x_m = torch.randn(args.meta_batch, 3, 32, 32, device=device)
    y_m = torch.randint(0, k, (args.meta_batch,), device=device)
    idx = torch.arange(args.batch, device=device)
    x_all, y_all = torch.cat([x_t, x_m]), torch.cat([y_t, y_m])
    sgd = torch.optim.SGD(model.parameters(), lr=1e-4)
    sampler = BADSSampler(
        model, n_t, 1000, prior=truncated_normal(0.5, 1.0), eta_theta=1e-8, device=device
    )

    def plain():
        sgd_step(model, sgd, x_all, y_all)

    def bads():
        sampler.step((x_t, y_t, idx), (x_m, y_m, idx[: args.meta_batch]))

    def blo():
        w = lookahead_weights(model, x_t, y_t, x_m, y_m, 0.1)
        sgd_step(model, sgd, x_t, y_t, weights=w * len(y_t))

    return {"plain": plain, "bads": bads, "blo": blo}


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child_memory(args) -> None:
    """(Child process) one method's peak resident-set growth in bytes, printed as JSON."""
    torch.set_num_threads(args.threads)
    steps = setup(args, torch.device("cpu"))
    before = _rss_kib("VmRSS")
    for _ in range(args.memory_steps):
        steps[args.child]()
    print(json.dumps({"peak_bytes": (_rss_kib("VmHWM") - before) * 1024}))


def peak_memory(args, device, steps) -> dict[str, float]:
    if device.type == "cuda":
        out = {}
        for m in METHODS:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            for _ in range(args.memory_steps):
                steps[m]()
            synchronize(device)
            out[m] = float(torch.cuda.max_memory_allocated(device) - base)
        return out
    out = {}
    for m in METHODS:
        cmd = [sys.executable, __file__, "--child", m, *sys_args(args)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out[m] = float(json.loads(res.stdout.strip().splitlines()[-1])["peak_bytes"])
    return out


def sys_args(args) -> list[str]:
    return [
        "--model", args.model, "--batch", str(args.batch), "--meta-batch", str(args.meta_batch),
        "--memory-steps", str(args.memory_steps), "--threads", str(args.threads),
    ]  # fmt: skip


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=64, help="|B_t|")
    p.add_argument("--meta-batch", type=int, default=32, help="|B_m|")
    p.add_argument("--model", default="resnet32")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--memory-steps", type=int, default=2)
    p.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    p.add_argument("--out", default="bads_cost.json")
    args = p.parse_args(argv)
    if args.child:
        child_memory(args)
        return {}

    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    steps = setup(args, device)
    for _ in range(args.warmup):
        for m in METHODS:
            steps[m]()
    times: dict[str, list[float]] = {m: [] for m in METHODS}
    for _ in range(args.repeats):
        for m in METHODS:
            synchronize(device)
            t0 = time.perf_counter()
            steps[m]()
            synchronize(device)
            times[m].append(time.perf_counter() - t0)
    seconds = {m: statistics.median(t) for m, t in times.items()}
    memory = peak_memory(args, device, steps)
    result = {
        "bads_over_plain": seconds["bads"] / seconds["plain"],
        "blo_over_plain": seconds["blo"] / seconds["plain"],
        "bads_memory_over_plain": memory["bads"] / memory["plain"],
        "blo_memory_over_plain": memory["blo"] / memory["plain"],
        "seconds_per_step": seconds,
        "peak_bytes": memory,
        "settings": {
            "model": args.model,
            "batch": args.batch,
            "meta_batch": args.meta_batch,
            "device": str(device),
            "threads": args.threads,
            "repeats": args.repeats,
        },
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    for key in ("bads_over_plain", "blo_over_plain", "bads_memory_over_plain",
                "blo_memory_over_plain"):  # fmt: skip
        print(f"{key}: {result[key]:.3f}")
    print("seconds per step:", {m: round(s, 4) for m, s in seconds.items()})
    print("peak MiB:", {m: round(b / 2**20, 1) for m, b in memory.items()})
    return result


if __name__ == "__main__":
    main()
