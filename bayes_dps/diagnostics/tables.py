"""Results tables (mean ± std over seeds) for terminals and Markdown, from ``results.json``."""

from __future__ import annotations

from typing import Any


def _fmt(stat: dict, pct: bool = False, digits: int = 1) -> str:
    if stat.get("mean") is None:
        return "-"
    scale = 100 if pct else 1
    return f"{stat['mean'] * scale:.{digits}f}±{stat['std'] * scale:.{digits}f}"


#: metrics stored as fractions in [0, 1] and shown as percentages (BLEU is already 0–100)
FRACTION_METRICS = ("acc", "balanced_acc", "token_acc")


def _reached(stat: dict, n_seeds: int, digits: int = 1) -> str:
    """Mean ± std over the seeds that reached a target, and how many did when not all."""
    n = stat.get("n", 0)
    return _fmt(stat, digits=digits) + ("" if n == n_seeds else f" ({n}/{n_seeds})")


def metric_header(metric: str) -> str:
    return f"final {metric}" + (" %" if metric in FRACTION_METRICS else "")


def _metric(stat: dict, metric: str) -> str:
    return _fmt(stat, pct=metric in FRACTION_METRICS)


def online_rows(results: dict[str, Any]) -> list[list[str]]:
    """Deng et al. Table 1 protocol: final accuracy, epochs to each target and training
    seconds to the last (seeds that reached it, if not all), share of noisy and of redundant
    points among the selected, seeds; where the runs record them, each method's set-up
    seconds (its predictor, cleanlab's folds) and the end-to-end seconds to the last target
    (set-up + training)."""
    targets = results["config"]["targets"]
    last = f"{targets[-1]:.2f}" if targets else None
    setup = any("setup_seconds" in m["summary"] for m in results["methods"].values())
    rows = [["method", "seeds", "final acc %", *[f"epochs to {t:.2f}" for t in targets],
             *([f"s to {last}"] if last else []),
             *(["setup s"] if setup else []),
             *([f"end-to-end s to {last}"] if setup and last else []),
             "noisy sel %", "redundant sel %"]]  # fmt: skip
    for name, m in results["methods"].items():
        s = m["summary"]
        n_seeds = len(m["seeds"])
        row = [name, str(n_seeds), _fmt(s["final_acc"], pct=True)]
        row += [_reached(s["epochs_to_target"][f"{t:.2f}"], n_seeds) for t in targets]
        if last:
            row.append(_reached(s.get("seconds_to_target", {}).get(last, {}), n_seeds, 2))
        if setup:
            row.append(_fmt(s.get("setup_seconds", {}), digits=2))
            if last:
                e2e = s.get("end_to_end_seconds_to_target", {}).get(last, {})
                row.append(_reached(e2e, n_seeds, 2))
        row += [
            _fmt(s["selected_noisy_fraction"], True),
            _fmt(s["selected_redundant_fraction"], True),
        ]
        rows.append(row)
    return rows


def sweep_rows(sweep: dict[str, Any]) -> list[list[str]]:
    """One row per (grid point, method) of a sweep: for online runs the final accuracy and
    epochs / seconds to each target, for BADS runs the final metric and mean weights by group
    (mean ± std over seeds)."""
    keys = sweep.get("keys") or [sweep["key"]]
    targets = sweep.get("targets", [])
    runs = list(sweep["runs"].values())
    online = bool(runs) and "final_acc" in next(iter(runs[0]["methods"].values()))["summary"]
    head = [*keys, "method"]
    if online:
        head += ["final acc %", *[f"epochs to {t:.2f}" for t in targets]]
        head += [f"s to {t:.2f}" for t in targets]
    else:
        metric = sweep.get("metric") or (runs[0].get("config", {}).get("metric") if runs else None)
        head += [metric_header(metric or "metric"), "final mean weight by group"]
    rows = [head]
    for run in runs:
        values = [str(run["values"][k]) for k in keys]
        for name, m in run["methods"].items():
            s = m["summary"]
            if online:
                n_seeds = len(m["seeds"])
                row = [*values, name, _fmt(s["final_acc"], pct=True)]
                row += [_reached(s["epochs_to_target"][f"{t:.2f}"], n_seeds) for t in targets]
                row += [
                    _reached(s.get("seconds_to_target", {}).get(f"{t:.2f}", {}), n_seeds, 2)
                    for t in targets
                ]
            else:
                weights = ", ".join(
                    f"{g} {v['mean']:.3f}" for g, v in s.get("final_group_weights", {}).items()
                )
                row = [*values, name, _metric(s["final_metric"], metric or "acc"), weights or "-"]
            rows.append(row)
    return rows


def bads_rows(results: dict[str, Any]) -> list[list[str]]:
    """Final test metric (mean ± std over the seeds), what the weights contribute (the
    method minus its fixed-weight twin, paired by seed) where the twin ran, the set-up seconds
    where a method had any (scoring models, cleanlab's folds), and the final mean weight per
    ground-truth group, per method."""
    metric = results["config"]["metric"]
    contribution = results.get("weight_contribution") or {}
    setup = any(
        (m["summary"].get("setup_seconds") or {}).get("mean") for m in results["methods"].values()
    )
    head = ["method", "seeds", metric_header(metric)]
    head += ["weights' contribution"] if contribution else []
    head += ["setup s"] if setup else []
    rows = [[*head, "final mean weight by group"]]
    shown = results.get("headline_groups")  # per-domain/per-task weights stay in results.json
    for name, m in results["methods"].items():
        s = m["summary"]
        weights = ", ".join(
            f"{g} {v['mean']:.3f}"
            for g, v in s.get("final_group_weights", {}).items()
            if shown is None or g in shown
        )
        row = [name, str(len(m["seeds"])), _metric(s["final_metric"], metric)]
        if contribution:
            c = contribution.get(name)
            row.append("-" if c is None else _signed(c["final_metric"], metric))
        if setup:
            row.append(_fmt(s.get("setup_seconds") or {}, digits=2))
        rows.append([*row, weights or "-"])
    return rows


def _signed(stat: dict, metric: str) -> str:
    text = _metric(stat, metric)
    return text if text.startswith("-") else f"+{text}"


def has_fine_groups(results: dict[str, Any]) -> bool:
    """True when runs carry weights of groups beyond the headline ones (domains, tasks)."""
    shown = results.get("headline_groups")
    if shown is None:
        return False
    return any(
        g not in shown
        for m in results["methods"].values()
        for g in m["summary"].get("final_group_weights", {})
    )


def group_weight_rows(results: dict[str, Any]) -> list[list[str]]:
    """Final mean weight (± std over seeds) of every fine-grained group — a domain or an
    instruction task — by method (the paper's Table 4), groups sorted by the first method."""
    shown = set(results.get("headline_groups") or ())
    names = [
        n for n, m in results["methods"].items()
        if m["summary"].get("final_group_weights") and n != "contrastive"
    ]  # fmt: skip
    if not names:
        return [["group"], ["(no method with instance weights)"]]
    first = results["methods"][names[0]]["summary"]["final_group_weights"]
    groups = sorted((g for g in first if g not in shown), key=lambda g: -first[g]["mean"])
    rows = [["group", *names]]
    for g in groups:
        cells = []
        for n in names:
            v = results["methods"][n]["summary"]["final_group_weights"].get(g)
            cells.append("-" if v is None else f"{v['mean']:.3f} ± {v.get('std', 0.0):.3f}")
        rows.append([g, *cells])
    return rows


def as_text(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def as_markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)
