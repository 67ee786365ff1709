"""``bayes-dps report RUN_DIR``: every figure regenerated from a run's files, and ``report.md``
(results table + figures + posterior diagnostics) so a run is read at a glance.

Works on the output folders of ``bayes-dps online`` (``results.json`` → ``curves.png``,
``selection.png``, ``predictor.png`` when a method leans on a checked predictor or records
Eq. 16's terms; ``sweep.json`` → ``sweep.png``) and ``bayes-dps bads`` (``results.json`` →
``curves.png``, ``weights.png``; ``posterior*.nc`` → weight histograms, trace and rank plots,
R-hat/ESS summary). Files that are missing or unreadable are named in the report instead of
stopping it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bayes_dps.diagnostics.arviz_export import arviz
from bayes_dps.diagnostics.convergence import Convergence, convergence
from bayes_dps.diagnostics.plots import (
    has_group_contrast,
    plot_bads_curves,
    plot_bads_sweep,
    plot_final_weights,
    plot_group_contrast,
    plot_group_weights,
    plot_online_curves,
    plot_selection_stats,
    plot_sweep,
    plot_weight_histograms,
    plot_weight_trace,
    save_figure,
    sweep_contrast_results,
)
from bayes_dps.diagnostics.predictor_plots import has_predictor_diagnosis, plot_predictor_diagnosis
from bayes_dps.diagnostics.tables import (
    as_markdown,
    bads_rows,
    group_weight_rows,
    has_fine_groups,
    online_rows,
    sweep_rows,
)
from bayes_dps.io import atomic_write


def run_kind(results: dict[str, Any]) -> str:
    """``"bads"`` or ``"online"`` (BADS results carry ``groups``; online ones ``targets``)."""
    return "bads" if "groups" in results else "online"


def _read_json(path: Path, notes: list[str], required: bool = True) -> dict[str, Any] | None:
    """The JSON object in ``path``; ``None`` (with a note) when missing, unreadable or not an
    object."""
    if not path.is_file():
        if required:
            notes.append(f"`{path.name}` is missing")
        return None
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        notes.append(f"`{path.name}` could not be read ({err})")
        return None
    if not isinstance(data, dict):
        notes.append(f"`{path.name}` holds a {type(data).__name__}, not a results object")
        return None
    return data


#: per-seed fields of each kind of run that tables and figures read: ``(name, kind)`` with
#: kind ``"number"`` or ``"numbers"`` (a list of numbers, ``null`` allowed for a missed eval)
SEED_FIELDS = {
    "online": (("seed", "number"), ("test_acc", "numbers"), ("final_acc", "number")),
    "bads": (("seed", "number"), ("eval_steps", "numbers"), ("test_metric", "numbers"),
             ("final_metric", "number")),
}  # fmt: skip

#: the summary entry that is the mean of each kind's final per-seed number
SUMMARY_OF = {"online": "final_acc", "bads": "final_metric"}


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def damaged_entries(results: dict[str, Any]) -> list[str]:
    """What in ``results.json`` cannot be what a run wrote: a per-seed value of the wrong type,
    or a summary mean that is not the mean of the seeds beside it (one line each)."""
    kind = run_kind(results)
    out = []
    methods = results.get("methods")
    if not isinstance(methods, dict):
        return ["`results.json` has no `methods` object"]
    for name, method in methods.items():
        seeds = method.get("seeds") if isinstance(method, dict) else None
        if not isinstance(seeds, list) or not seeds:
            out.append(f"`{name}`: no list of per-seed runs")
            continue
        for i, run in enumerate(seeds):
            if not isinstance(run, dict):
                out.append(f"`{name}` run {i}: not a run record")
                continue
            for field, want in SEED_FIELDS[kind]:
                value = run.get(field)
                ok = (
                    _is_number(value)
                    if want == "number"
                    else isinstance(value, list) and all(v is None or _is_number(v) for v in value)
                )
                if not ok:
                    out.append(f"`{name}` seed {run.get('seed')!r}: `{field}` is {value!r:.40}")
        key = SUMMARY_OF[kind]
        finals = [r.get(key) for r in seeds if isinstance(r, dict)]
        mean = (method.get("summary") or {}).get(key, {}).get("mean")
        if all(_is_number(v) for v in finals) and _is_number(mean):
            if not np.isclose(mean, float(np.mean(finals)), rtol=1e-9, atol=1e-12):
                out.append(
                    f"`{name}`: the summary's mean {key} {mean:.4g} is not the mean of its "
                    f"seeds ({float(np.mean(finals)):.4g})"
                )
    return out


def _figure(
    out: Path, name: str, build: Callable[[], Any], caption: str, notes: list[str]
) -> str | None:
    try:
        save_figure(build(), out / name)
    except Exception as err:  # a broken figure should not lose the rest of the report
        notes.append(f"`{name}` could not be drawn ({type(err).__name__}: {err})")
        return None
    return f"![{caption}]({name})"


#: what the chains are, above every convergence table
CHAINS_ARE = (
    "The chains are the run's seeds: every seed trains on the same data, split and corruption "
    "(`dataset.seed`) and differs in the network's initialisation, the batch order and the "
    "sampler's noise, so chains that sample one posterior agree."
)

#: each diagnostic in one line: what it measures and what value is healthy
DIAGNOSTICS_MEAN = (
    "- **R-hat**: the spread between chains against the spread within them; healthy ≤ 1.01, "
    "above 1.1 the chains disagree (a cold chain — the configs' small `bads.temperature` — "
    "has little spread within, so a tiny disagreement gives a large R-hat).",
    "- **bulk ESS**: how many independent draws the correlated draws are worth; healthy ≥ 100 "
    "per chain.",
    "- **sd between chains**: how far apart the chains' means are, in weight units; read it "
    "against the gap between the groups' mean weights, which is what the weights are for.",
    "- **sd within chains**: how much one chain's group mean moves over the draws kept.",
)


def convergence_lines(conv: Convergence) -> list[str]:
    """Markdown: R-hat / ESS of the group means (a table) and of the instances, and a
    **flag** line per problem (see :mod:`bayes_dps.diagnostics.convergence`)."""
    lines = [
        f"**{conv.headline()}.**",
        "",
        f"{conv.chains} chain(s) × {conv.draws} draws; the first {conv.warmup_draws} draws "
        "(before the running-average window) are warm-up and left out below. " + CHAINS_ARE,
        "",
        *DIAGNOSTICS_MEAN,
        "",
    ]
    if conv.groups:
        lines += [
            "| group | mean weight | sd over draws | sd between chains | sd within chains "
            "| R-hat | bulk ESS |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {g} | {v['mean']:.3f} | {v['sd']:.3f} | {v['between_sd']:.4f} | "
            f"{v['within_sd']:.4f} | {v['rhat']:.3f} | {v['ess']:.0f} |"
            for g, v in conv.groups.items()
        ]
        pi = conv.per_instance
        lines += [
            "",
            f"Per instance: R-hat median {pi['rhat_median']:.3f}, 95th percentile "
            f"{pi['rhat_p95']:.3f}, max {pi['rhat_max']:.3f}; bulk ESS median "
            f"{pi['ess_median']:.0f}, min {pi['ess_min']:.0f}.",
        ]
    flags = conv.flags()
    lines += ["", *[f"- **Flag:** {f}." for f in flags]] if flags else ["", "No convergence flag."]
    return lines


def _open_posterior(path: Path, notes: list[str]) -> tuple[Any, Convergence] | None:
    try:
        idata = arviz().from_netcdf(str(path))
        return idata, convergence(idata)
    except Exception as err:
        notes.append(f"`{path.name}` could not be opened ({type(err).__name__}: {err})")
        return None


def posterior_section(
    path: Path, out: Path, opened: tuple[Any, Convergence], notes: list[str]
) -> list[str]:
    """Convergence summary and weight figures for one opened ``posterior*.nc``."""
    idata, conv = opened
    stem = path.stem
    lines = [f"### {path.name}", "", *convergence_lines(conv)]
    if "sample_stats" in idata.groups() and "lp" in idata.sample_stats:
        lp = idata.sample_stats["lp"].values
        lines.append(f"Minibatch log joint at the last draw: {np.round(lp[:, -1], 1).tolist()}.")
    lines.append("")
    for name, build, caption in (
        (f"{stem}_hist.png", lambda: plot_weight_histograms(idata), "final weights"),
        (f"{stem}_trace.png", lambda: plot_weight_trace(idata), "trace plot"),
        (f"{stem}_rank.png", lambda: plot_weight_trace(idata, kind="rank"), "rank plot"),
    ):
        fig = _figure(out, name, build, caption, notes)
        if fig:
            lines += [fig, ""]
    return lines


def point_results(out: Path, sweep: dict[str, Any]) -> dict[str, dict]:
    """Each grid point's ``results.json`` that exists and parses, by folder name."""
    found = {}
    for run in sweep.get("runs", {}).values():
        path = out / str(run.get("folder", "")) / "results.json"
        try:
            found[run["folder"]] = json.loads(path.read_text())
        except (OSError, ValueError, KeyError):
            continue
    return found


def _is_online_sweep(sweep: dict[str, Any]) -> bool:
    for run in sweep.get("runs", {}).values():
        for method in run.get("methods", {}).values():
            return "final_acc" in method.get("summary", {})
    return True


def write_report(run_dir: str | Path) -> tuple[Path, list[str]]:
    """Regenerate the figures of ``run_dir`` and write ``run_dir/report.md``; returns its path
    and what was missing or unreadable. Raises ``FileNotFoundError`` only if ``run_dir`` itself
    does not exist."""
    out = Path(run_dir)
    if not out.is_dir():
        raise FileNotFoundError(f"run directory {out} does not exist")
    notes: list[str] = []
    lines = [f"# Report: {out.name}", ""]
    opened = {
        path: got
        for path in sorted(out.glob("posterior*.nc"))
        if (got := _open_posterior(path, notes)) is not None
    }
    sweep = _read_json(out / "sweep.json", notes, required=False)
    results = _read_json(out / "results.json", notes, required=sweep is None)
    figures: list[str] = []
    if results is not None:
        kind = run_kind(results)
        name = results.get("config", {}).get("name") or out.name
        lines[0] = f"# Report: {name} ({'BADS' if kind == 'bads' else 'online selection'})"
        seeds = results.get("config", {}).get("seeds", [])
        lines += [f"Mean ± std over {len(seeds)} seed(s) {seeds}.", ""]
        damaged = damaged_entries(results)
        if damaged:  # said before the table, which may be built on them
            lines += [
                "**Damaged:** `results.json` holds values no run writes, so the table below is "
                "not to be trusted — rerun the methods named (or `--resume`, which recomputes "
                "damaged seed records):", "", *[f"- {d}" for d in damaged], "",
            ]  # fmt: skip
            notes += [f"damaged: {d}" for d in damaged]
        try:
            rows = bads_rows(results) if kind == "bads" else online_rows(results)
            lines += [as_markdown(rows), ""]
        except (KeyError, TypeError) as err:
            notes.append(f"`results.json` lacks a field the table needs ({err})")
        for path, (_, conv) in opened.items():  # the posterior's state on the first screen
            lines += [f"Posterior of the weights, `{path.name}`: {conv.headline()}.", ""]
        if kind == "bads":
            plots = [
                ("curves.png", lambda: plot_bads_curves(results), "test metric over steps"),
                ("weights.png", lambda: plot_group_weights(results), "mean weight by group"),
            ]
            if has_group_contrast(results):
                plots.append(
                    ("contrast.png", lambda: plot_group_contrast(results),
                     "the drift contrast per block")
                )  # fmt: skip
            if has_fine_groups(results):
                lines += ["Final mean weight by domain / task:", ""]
                lines += [as_markdown(group_weight_rows(results)), ""]
                plots.append(
                    ("group_weights.png", lambda: plot_final_weights(results),
                     "final mean weight by domain / task")
                )  # fmt: skip
        else:
            plots = [
                ("curves.png", lambda: plot_online_curves(results), "test accuracy"),
                ("selection.png", lambda: plot_selection_stats(results), "selection stats"),
            ]
            if has_predictor_diagnosis(results):
                plots.append(
                    ("predictor.png", lambda: plot_predictor_diagnosis(results),
                     "the predictor and the selection")
                )  # fmt: skip
        for fname, build, caption in plots:
            fig = _figure(out, fname, build, caption, notes)
            if fig:
                figures += [fig, ""]
    if sweep is not None:
        lines[0] = f"# Report: sweep over {sweep.get('key')} ({out.name})"
        try:
            lines += [as_markdown(sweep_rows(sweep)), ""]
        except (KeyError, TypeError, AttributeError) as err:
            notes.append(f"`sweep.json` lacks a field the table needs ({err})")
        draw = plot_sweep if _is_online_sweep(sweep) else plot_bads_sweep
        fig = _figure(out, "sweep.png", lambda: draw(sweep), "sweep", notes)
        if fig:
            figures += ["## Sweep", "", fig, ""]
        contrast = sweep_contrast_results(sweep, point_results(out, sweep))
        if not _is_online_sweep(sweep) and contrast["methods"]:
            build = lambda: plot_group_contrast(contrast)  # noqa: E731
            fig = _figure(out, "contrast.png", build, "the drift contrast per block", notes)
            if fig:
                figures += [fig, ""]
    lines += ["## Figures", "", *figures] if figures else []
    if opened:
        lines += ["## Posterior of the weights", ""]
        for path, got in opened.items():
            lines += posterior_section(path, out, got, notes)
    elif sorted(out.glob("posterior*.nc")):
        pass  # each unreadable file is named in the notes
    elif results is not None and run_kind(results) == "bads":
        notes.append("no `posterior*.nc` (run without a weight method, or the file was removed)")
    if notes:
        lines += ["## Missing or unreadable", "", *[f"- {n}" for n in notes], ""]
    text = "\n".join(lines).rstrip() + "\n"
    return atomic_write(out / "report.md", lambda fh: fh.write(text.encode())), notes
