"""How far the amortised posterior settings move the selection: top-``n_b`` agreement with the
exact posterior, step by step on the same stream.

One chain per seed trains the digits MLP (64 → 256 → 256 → 10, 20 % symmetric label noise)
with the exact ``bayesian`` rule. Beside its posterior run shadow posteriors, one per setting
``(refresh_every m, variance_rank r)``, whose Kronecker factors ``A``, ``G`` are the exact
posterior's after every step. At every step each shadow scores the same big batch with the
same model, and the fraction of its top ``n_b`` that the exact rule also selected is
recorded. The zero-shot term of Eq. 16 is a constant here (a uniform predictor), so the
agreement measures the posterior terms alone, the part the settings change (a predictor's
term, shared by both, would only raise it).

    python benchmarks/refresh_agreement.py [--seeds 0 1 2] [--epochs 30] [--threads 1]
        [--settings 8:0 1:32 8:32 16:16] [--out runs/benchmarks/refresh_agreement.json]

Writes, per setting ``m=…,r=…``: the mean, the minimum and the 5th percentile of the per-step
agreement over all steps and seeds, and the number of steps.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch

from bayes_dps.data import BatchStream
from bayes_dps.data.registry import load_data
from bayes_dps.inference import LastLayerKFACLaplace
from bayes_dps.io import atomic_write_json
from bayes_dps.methods.online import OnlineSelectionEpoch
from bayes_dps.models import build_model
from bayes_dps.runs.provenance import provenance
from bayes_dps.selection import BayesianSelection, BigBatch
from bayes_dps.selection.predictors import CachedLogits


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--n-big", type=int, default=320)
    p.add_argument("--n-small", type=int, default=32)
    p.add_argument("--settings", nargs="+", default=["8:0", "1:32", "8:32", "16:16"],
                   help="m:r pairs (refresh_every:variance_rank)")  # fmt: skip
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/benchmarks/refresh_agreement.json")
    return p.parse_args(argv)


def settings_of(args) -> dict[str, tuple[int, int]]:
    out = {}
    for pair in args.settings:
        m, r = (int(v) for v in pair.split(":"))
        out[f"m={m},r={r}"] = (m, r)
    return out


def chain(args, seed: int, settings: dict[str, tuple[int, int]]) -> dict[str, list[float]]:
    """Per-step agreement of every setting with the exact rule along one exact chain."""
    torch.manual_seed(seed)
    splits = load_data({"name": "digits", "noise": 0.2, "meta_per_class": 20, "seed": seed})
    train, k = splits.train, splits.num_classes
    model = build_model("mlp", splits.input_shape, k, {"hidden": [256, 256]})
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    table = CachedLogits(torch.zeros(len(train), k), "uniform")

    def rule(m: int, r: int) -> BayesianSelection:
        post = LastLayerKFACLaplace(model.feature_dim, k, n_e=500, tau0=1.0,
                                    refresh_every=m, variance_rank=r)  # fmt: skip
        return BayesianSelection(post, table, alpha=0.3)

    exact = rule(1, 0)
    shadows = {name: rule(m, r) for name, (m, r) in settings.items()}
    stream = BatchStream(train, args.n_big, seed=seed)
    loop = OnlineSelectionEpoch(model, opt, stream, exact, args.n_small)
    agreement: dict[str, list[float]] = {name: [] for name in settings}
    for epoch in range(args.epochs):
        for x, y, idx in stream.epoch(epoch):
            logits, feats = loop.score_forward(x)
            big = BigBatch(x, y, idx, logits, feats)
            chosen = set(torch.topk(exact.scores(big), args.n_small).indices.tolist())
            for name, shadow in shadows.items():
                top = torch.topk(shadow.scores(big), args.n_small).indices.tolist()
                agreement[name].append(len(chosen.intersection(top)) / args.n_small)
            loop.step(x, y, idx)  # the exact rule selects (the same top n_b) and updates
            for shadow in shadows.values():  # the same factors A, G as the exact posterior
                post, ref = shadow.posterior, exact.posterior
                post.A.copy_(ref.A)
                post.G.copy_(ref.G)
                post.num_updates = ref.num_updates
    return agreement


def main(argv=None) -> dict:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    settings = settings_of(args)
    per_setting: dict[str, list[float]] = {name: [] for name in settings}
    for seed in args.seeds:
        for name, values in chain(args, seed, settings).items():
            per_setting[name].extend(values)
        means = ", ".join(f"{n} {statistics.mean(v):.3f}" for n, v in per_setting.items())
        print(f"seed {seed}: {means}", flush=True)
    result = {
        "agreement": {
            name: {
                "mean": statistics.mean(v),
                "min": min(v),
                "p05": float(np.percentile(v, 5)),
                "steps": len(v),
            }
            for name, v in per_setting.items()
        },
        "setup": {
            "data": "digits, 20% symmetric label noise",
            "model": "mlp 256-256",
            "n_B": args.n_big,
            "n_b": args.n_small,
            "epochs": args.epochs,
            "seeds": args.seeds,
        },
        "provenance": provenance(torch.device("cpu"), torch.get_num_threads()),
    }
    atomic_write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
