"""BADS as the training set grows: step time, memory and checkpoint size against ``N_t``.

BADS keeps one weight ``w_i`` per training instance, plus its kernel's per-instance state
(SGHMC's momentum; a weight network ``g_φ`` instead keeps ``φ`` and each point's latest
``w_i``), the running sum of the selection statistic and a thinned trace of at most
``trace_max_instances`` weights. A step touches only the batch's ``|B_t|`` weights, so its time
should not grow with ``N_t`` (slope 0 on a log–log plot) while the memory and the checkpoint
grow as ``N_t`` (slope 1).

For each variant (``sgld``: per-instance weights under SGLD; ``sghmc``: with a momentum per
instance; ``weightnet``: a weight network on the batch's embeddings) and each ``N_t``, a fresh
child process builds the sampler (digits-sized MLP 64 → 64 → 10, ``|B_t| = 64``, ``|B_m| =
32``, random inputs, batch indices drawn uniformly from ``N_t``; ``η_θ = 10⁻⁸`` as in
``bads_cost.py``, so that the ``N_t / |B_t|``-scaled gradient on random labels stays finite
at every size), takes ``--steps`` steps (the running average on from step 10, the trace every
10th step) and reports: the median step time over the steps after the first ten; the growth
of the resident set's high-water mark (``VmHWM``) over the process before the sampler existed
(on CUDA ``torch.cuda.max_memory_allocated``); the bytes of the sampler's per-instance
tensors; and the size, save and load time of ``torch.save(sampler.state_dict())`` to a file.

    python benchmarks/bads_scaling.py [--sizes 10000 100000 1000000 10000000]
        [--variants sgld sghmc weightnet] [--steps 100] [--device cpu|cuda]
        [--threads 1] [--out runs/benchmarks/bads_scaling.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bayes_dps import BADSSampler, truncated_normal
from bayes_dps.inference.bads import default_weight_net
from bayes_dps.io import atomic_write_json
from bayes_dps.models import build_model
from bayes_dps.models.likelihoods import Classification
from bayes_dps.runs.provenance import provenance
from bayes_dps.training.devices import resolve_device, synchronize

VARIANTS = ("sgld", "sghmc", "weightnet")


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000,
                                                            10_000_000])  # fmt: skip
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=64, help="|B_t|")
    p.add_argument("--meta-batch", type=int, default=32, help="|B_m|")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--child", nargs=2, metavar=("VARIANT", "N"), help=argparse.SUPPRESS)
    p.add_argument("--out", default="runs/benchmarks/bads_scaling.json")
    return p.parse_args(argv)


def _rss_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def per_instance_bytes(state, n_t: int) -> int:
    """Bytes of the tensors in a (nested) state with ``n_t`` rows."""
    if torch.is_tensor(state):
        return state.numel() * state.element_size() if state.shape[:1] == (n_t,) else 0
    if isinstance(state, dict):
        return sum(per_instance_bytes(v, n_t) for v in state.values())
    if isinstance(state, list | tuple):
        return sum(per_instance_bytes(v, n_t) for v in state)
    return 0


def measure(variant: str, n_t: int, args, device: torch.device) -> dict[str, float]:
    """One (variant, N_t) point, in this process (a fresh child on the CPU)."""
    torch.manual_seed(0)
    model = build_model("mlp", (64,), 10, {"hidden": [64]}).to(device)
    before = _rss_bytes("VmRSS") if device.type == "cpu" else 0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    net = None
    if variant == "weightnet":
        net = default_weight_net(Classification().embed_dim(model), 32).to(device)
    sampler = BADSSampler(
        model, n_t, 1000, prior=truncated_normal(0.5, 1.0), device=device,
        kernel="sghmc" if variant == "sghmc" else "sgld", weight_net=net,
        average_from=10, thin=10, check_inputs=False, eta_theta=1e-8,
    )  # fmt: skip
    g = torch.Generator(device=device).manual_seed(0)
    x_m = torch.randn(args.meta_batch, 64, device=device)
    y_m = torch.randint(0, 10, (args.meta_batch,), device=device)
    midx = torch.arange(args.meta_batch, device=device)
    times = []
    for _ in range(args.steps):
        idx = torch.randint(0, n_t, (args.batch,), device=device, generator=g)
        x = torch.randn(args.batch, 64, device=device, generator=g)
        y = torch.randint(0, 10, (args.batch,), device=device, generator=g)
        synchronize(device)
        t0 = time.perf_counter()
        sampler.step((x, y, idx), (x_m, y_m, midx), check=False)
        synchronize(device)
        times.append(time.perf_counter() - t0)
    sampler.raise_if_nonfinite()
    if device.type == "cuda":
        peak = float(torch.cuda.max_memory_allocated(device) - base)
    else:
        peak = float(_rss_bytes("VmHWM") - before)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bads.pt"
        t0 = time.perf_counter()
        state = sampler.state_dict()
        torch.save(state, path)
        t_save = time.perf_counter() - t0
        size = path.stat().st_size
        t0 = time.perf_counter()
        sampler.load_state_dict(torch.load(path, weights_only=False))
        t_load = time.perf_counter() - t0
    return {
        "ms_per_step": 1e3 * statistics.median(times[10:] or times),
        "peak_memory_bytes": peak,
        "per_instance_bytes": float(per_instance_bytes(state, n_t)),
        "checkpoint_bytes": float(size),
        "checkpoint_save_s": t_save,
        "checkpoint_load_s": t_load,
    }


def main(argv=None) -> dict:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.child:
        variant, n = args.child
        print(json.dumps(measure(variant, int(n), args, device)))
        return {}
    points: dict[str, dict] = {}
    for variant in args.variants:
        for n in args.sizes:
            if device.type == "cpu":  # a fresh process: its memory high-water mark is its own
                cmd = [sys.executable, __file__, "--child", variant, str(n), "--steps",
                       str(args.steps), "--batch", str(args.batch), "--meta-batch",
                       str(args.meta_batch), "--threads", str(args.threads)]  # fmt: skip
                res = subprocess.run(cmd, capture_output=True, text=True, check=True)
                point = json.loads(res.stdout.strip().splitlines()[-1])
            else:
                point = measure(variant, n, args, device)
            points[f"{variant},N={n}"] = point
            print(f"{variant:9s} N={n:>9d} " + " ".join(
                f"{k} {v:.4g}" for k, v in point.items()), flush=True)  # fmt: skip
    result = {
        "points": points,
        "setup": {
            "model": "mlp 64-64-10",
            "batch": args.batch,
            "meta_batch": args.meta_batch,
            "steps": args.steps,
            "sizes": args.sizes,
            "variants": args.variants,
            "device": str(device),
        },
        "provenance": provenance(device, torch.get_num_threads()),
    }
    atomic_write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
