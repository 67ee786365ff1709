"""Results tables (mean ± std over seeds) for terminals and Markdown, from ``results.json``."""

from __future__ import annotations

from typing import Any


def _fmt(stat: dict, pct: bool = False, digits: int = 1) -> str:
    if stat.get("mean") is None:
        return "-"
    scale = 100 if pct else 1
    return f"{stat['mean'] * scale:.{digits}f}±{stat['std'] * scale:.{digits}f}"


def online_rows(results: dict[str, Any]) -> list[list[str]]:
    """Deng et al. Table 1 protocol: final accuracy, epochs to each target (seeds that reached
    it, if not all), share of noisy and of redundant points among the selected."""
    targets = results["config"]["targets"]
    rows = [["method", "final acc %", *[f"epochs to {t:.2f}" for t in targets],
             "noisy sel %", "redundant sel %"]]  # fmt: skip
    for name, m in results["methods"].items():
        s = m["summary"]
        row = [name, _fmt(s["final_acc"], pct=True)]
        for t in targets:
            e = s["epochs_to_target"][f"{t:.2f}"]
            n_seeds = len(m["seeds"])
            row.append(_fmt(e) + ("" if e["n"] == n_seeds else f" ({e['n']}/{n_seeds})"))
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
        head += ["final metric %", "final mean weight by group"]
    rows = [head]
    for run in runs:
        values = [str(run["values"][k]) for k in keys]
        for name, m in run["methods"].items():
            s = m["summary"]
            if online:
                row = [*values, name, _fmt(s["final_acc"], pct=True)]
                row += [_fmt(s["epochs_to_target"][f"{t:.2f}"]) for t in targets]
                row += [
                    _fmt(s.get("seconds_to_target", {}).get(f"{t:.2f}", {}), digits=2)
                    for t in targets
                ]
            else:
                weights = ", ".join(
                    f"{g} {v['mean']:.3f}" for g, v in s.get("final_group_weights", {}).items()
                )
                row = [*values, name, _fmt(s["final_metric"], pct=True), weights or "-"]
            rows.append(row)
    return rows


def bads_rows(results: dict[str, Any]) -> list[list[str]]:
    """Final test metric and final mean weight per ground-truth group, per method."""
    metric = results["config"]["metric"]
    rows = [["method", f"final {metric} %", "final mean weight by group"]]
    for name, m in results["methods"].items():
        s = m["summary"]
        weights = ", ".join(
            f"{g} {v['mean']:.3f}" for g, v in s.get("final_group_weights", {}).items()
        )
        rows.append([name, _fmt(s["final_metric"], pct=True), weights or "-"])
    return rows


def as_text(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def as_markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)
