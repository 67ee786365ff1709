"""Per-step cost of online selection rules, measured as ratios in one process.

Same model (CIFAR ResNet-18), same big batches (``n_B = 320`` random 32x32 images, 10
classes), same optimiser settings; the zero-shot / validation logits are cached tables (the
paper's §4.5 trick), so ``bayesian`` and ``rho_loss`` differ only in their scoring maths.
Methods are timed round-robin (one step each per repeat) and summarised by medians, so drift
of a shared machine affects all of them alike.

    python benchmarks/selection_cost.py [--repeats 7] [--device cpu] [--out selection_cost.json]

Prints and writes ``{"bayesian_over_rho_loss", "bayesian_over_uniform", "scoring_over_forward"}``
(the last: Bayesian scoring alone — posterior predictive, S draws, Eq. 16 — divided by the
big-batch forward pass that every scoring rule needs anyway), plus the raw medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from bayes_dps.data import BatchStream, IndexedDataset
from bayes_dps.inference import LastLayerKFACLaplace
from bayes_dps.models import build_model
from bayes_dps.selection import BayesianSelection, BigBatch, RhoLossSelection, UniformSelection
from bayes_dps.selection.predictors import CachedLogits
from bayes_dps.training import OnlineSelectionEpoch
from bayes_dps.training.runtime import resolve_device, synchronize


def timed(device, fn, *args):
    """``(seconds, fn(*args))`` with the device synchronised around the call."""
    synchronize(device)
    t0 = time.perf_counter()
    out = fn(*args)
    synchronize(device)
    return time.perf_counter() - t0, out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--n-big", type=int, default=320)
    p.add_argument("--n-small", type=int, default=32)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--num-samples", type=int, default=100, help="S of Eq. 16")
    p.add_argument("--model", default="resnet18")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="selection_cost.json")
    args = p.parse_args(argv)

    device = resolve_device(args.device)
    torch.manual_seed(0)
    n, k = 4 * args.n_big, args.classes
    data = IndexedDataset(torch.randn(n, 3, 32, 32), torch.randint(0, k, (n,)), num_classes=k)
    table = CachedLogits(torch.randn(n, k), "benchmark").to(device)
    batches = list(BatchStream(data, args.n_big, seed=0, device=device).epoch(0))

    loops = {}
    for name in ("uniform", "rho_loss", "bayesian"):
        torch.manual_seed(0)
        model = build_model(args.model, (3, 32, 32), k).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        if name == "uniform":
            rule = UniformSelection(0)
        elif name == "rho_loss":
            rule = RhoLossSelection(table)
        else:
            post = LastLayerKFACLaplace(model.feature_dim, k, n_e=500, tau0=1.0, device=device)
            rule = BayesianSelection(post, table, alpha=0.3, num_samples=args.num_samples)
        stream = BatchStream(data, args.n_big, seed=0, device=device)
        loops[name] = OnlineSelectionEpoch(model, opt, stream, rule, args.n_small)

    times: dict[str, list[float]] = {name: [] for name in loops}
    times["forward"], times["scoring"] = [], []
    bayes = loops["bayesian"]
    for r in range(args.warmup + args.repeats):
        x, y, idx = batches[r % len(batches)]
        for name, loop in loops.items():
            t, _ = timed(device, loop.step, x, y, idx)
            if r >= args.warmup:
                times[name].append(t)
        # Bayesian scoring alone vs the big-batch forward it needs, on the same batch
        t_fwd, (logits, feats) = timed(device, bayes.score_forward, x)
        t_score, _ = timed(device, bayes.rule.scores, BigBatch(x, y, idx, logits, feats))
        if r >= args.warmup:
            times["forward"].append(t_fwd)
            times["scoring"].append(t_score)

    med = {name: statistics.median(v) for name, v in times.items()}
    result = {
        "bayesian_over_rho_loss": med["bayesian"] / med["rho_loss"],
        "bayesian_over_uniform": med["bayesian"] / med["uniform"],
        "scoring_over_forward": med["scoring"] / med["forward"],
        "median_seconds": med,
        "setup": {
            "model": args.model,
            "n_B": args.n_big,
            "n_b": args.n_small,
            "classes": k,
            "S": args.num_samples,
            "repeats": args.repeats,
            "device": str(device),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
    }
    print(json.dumps(result, indent=2))
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2)
    return result


if __name__ == "__main__":
    main()
