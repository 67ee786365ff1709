"""The scaling figures of the performance page, drawn from the stored benchmark summaries in
``docs/results`` (log–log, with the slope each cost is expected to have drawn beside it).

    python tools/scaling_figures.py [--results docs/results] [--out docs/figures]

Figures (each skipped, with a line saying so, when its summaries are not stored):

* ``scaling_selection.png`` — an online-selection step against ``n_B``, the feature dimension
  ``d`` and the number of classes ``k`` (``scaling_selection_{n_B,d,k}``), each method's
  milliseconds per step and the Bayesian scoring maths alone (exact and amortised);
* ``scaling_models.png`` — the Bayesian step over a RHO-LOSS step on the MLP, LeNet-5 and
  ResNet-18 (``cost_selection_{mlp,lenet5,resnet18}``);
* ``scaling_bads.png`` — a BADS step, its memory and its checkpoint against ``N_t``
  (``scaling_bads``).

A ``_cuda`` twin of a summary (``python benchmarks/run_all.py --device cuda``) is drawn into a
``_cuda`` twin of its figure.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib.pyplot as plt

from bayes_dps.diagnostics.plots import method_style, save_figure
from bayes_dps.diagnostics.summaries import table

ROOT = Path(__file__).resolve().parents[1]

#: axis → (label, expected slopes of the exact scoring maths drawn as guides)
SELECTION_AXES = {
    "n_B": ("big batch $n_B$", (1,)),
    "d": ("feature dimension $d$ (MLP width)", (1, 2, 3)),
    "k": ("classes $k$", (1, 2)),
}
STEP_METHODS = ("uniform", "rho_loss", "bayesian", "bayesian_amortised")
MODELS = ("mlp", "lenet5", "resnet18")


def values(path: Path) -> dict[str, float]:
    """A stored benchmark summary's ``quantity → value`` rows as numbers."""
    out = {}
    for key, value in table(json.loads(path.read_text()))[1:]:
        try:
            out[key] = float(value)
        except ValueError:
            continue
    return out


def guide(ax, xs, y_end: float, slope: int) -> None:
    """A dotted line of ``slope`` through ``(xs[-1], y_end)``: the asymptotic slope, drawn
    where the largest sizes are."""
    ys = [y_end * (x / xs[-1]) ** slope for x in xs]
    dash = {0: ":", 1: ":", 2: "-.", 3: (0, (6, 3))}[slope]
    ax.plot(xs, ys, color="0.55", ls=dash, lw=1, label=f"slope {slope}")


def selection_figure(results: Path, suffix: str) -> plt.Figure | None:
    paths = {a: results / f"scaling_selection_{a}{suffix}.json" for a in SELECTION_AXES}
    if not all(p.exists() for p in paths.values()):
        return None
    fig, axes = plt.subplots(1, len(paths), figsize=(5 * len(paths), 4))
    for ax, (axis, path) in zip(axes, paths.items(), strict=True):
        v = values(path)
        xs = sorted({int(k.split(".")[1]) for k in v if k.startswith("scaling.")})

        def series(name: str, xs=xs, v=v) -> list[float]:
            return [v.get(f"scaling.{x}.ms_per_step.{name}", float("nan")) for x in xs]

        for i, m in enumerate(STEP_METHODS):
            ax.plot(xs, series(m), marker="o", label=f"{m} step", **method_style(i))
        for name, colour in (("", "C2"), ("_amortised", "C3")):
            parts = zip(series("scoring" + name), series("factorisation" + name), strict=True)
            maths = [a + b for a, b in parts]
            ax.plot(xs, maths, color=colour, ls="--", marker="x",
                    label=f"bayesian{name} scoring maths")  # fmt: skip
        label, slopes = SELECTION_AXES[axis]
        end = series("scoring")[-1] + series("factorisation")[-1]
        for slope in slopes:
            guide(ax, xs, end, slope)
        ax.set(xscale="log", yscale="log", xlabel=label, ylabel="ms", title=f"cost against {axis}")
        ax.legend(fontsize=7)
    fig.suptitle("online selection: a step and its scoring maths (one thread)")
    return fig


def models_figure(results: Path, suffix: str) -> plt.Figure | None:
    paths = {m: results / f"cost_selection_{m}{suffix}.json" for m in MODELS}
    have = {m: values(p) for m, p in paths.items() if p.exists()}
    if not have:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = list(have)
    for j, key in enumerate(("bayesian_over_rho_loss", "bayesian_amortised_over_rho_loss")):
        heights = [have[m].get(key, float("nan")) for m in names]
        ax.bar([i + 0.38 * j for i in range(len(names))], heights, width=0.36,
               label=key.replace("_over_rho_loss", ""))  # fmt: skip
    ax.axhline(1.0, color="0.4", lw=1)
    ax.set_xticks([i + 0.19 for i in range(len(names))], names)
    ax.set(ylabel="step ÷ RHO-LOSS step", title="the Bayesian step's cost by model")
    ax.legend(fontsize=8)
    return fig


def bads_figure(results: Path, suffix: str) -> plt.Figure | None:
    path = results / f"scaling_bads{suffix}.json"
    if not path.exists():
        return None
    v = values(path)
    variants = sorted({k.split(".")[1].split(",")[0] for k in v if k.startswith("points.")})
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    panels = (
        ("ms_per_step", "ms per step", 0),
        ("peak_memory_bytes", "bytes", 1),
        ("checkpoint_bytes", "bytes", 1),
    )
    for ax, (field, unit, slope) in zip(axes, panels, strict=True):
        for i, variant in enumerate(variants):
            ns = sorted(int(k.split("N=")[1].split(".")[0]) for k in v
                        if k.startswith(f"points.{variant},") and k.endswith(field))  # fmt: skip
            ys = [v[f"points.{variant},N={n}.{field}"] for n in ns]
            ax.plot(ns, ys, marker="o", label=variant, **method_style(i))
            if field == "peak_memory_bytes":
                per = [v[f"points.{variant},N={n}.per_instance_bytes"] for n in ns]
                ax.plot(ns, per, marker="x", ls="--", color=f"C{i}",
                        label=f"{variant}: checkpointed per-instance tensors")  # fmt: skip
        guide(ax, ns, ys[-1], slope)
        if field == "ms_per_step":  # a flat line needs room to be seen as flat
            low, high = ax.get_ylim()
            ax.set_ylim(low / 3, high * 3)
        title = {"ms_per_step": "a step", "peak_memory_bytes": "peak memory growth",
                 "checkpoint_bytes": "checkpoint size"}[field]  # fmt: skip
        ax.set(xscale="log", yscale="log", xlabel="instances $N_t$", ylabel=unit, title=title)
        ax.legend(fontsize=7)
    fig.suptitle("BADS against the training set's size (one thread)")
    return fig


FIGURES = {
    "scaling_selection": selection_figure,
    "scaling_models": models_figure,
    "scaling_bads": bads_figure,
}


def main(argv=None) -> list[Path]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--results", type=Path, default=ROOT / "docs" / "results")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "figures")
    args = p.parse_args(argv)
    written = []
    for suffix in ("", "_cuda"):
        for name, draw in FIGURES.items():
            fig = draw(args.results, suffix)
            if fig is None:
                if not suffix:
                    print(f"skipped {name}: its summaries are not in {args.results}")
                continue
            written.append(save_figure(fig, args.out / f"{name}{suffix}.png"))
            print(f"wrote {written[-1]}")
    return written


if __name__ == "__main__":
    main()
