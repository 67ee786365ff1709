"""Stored result summaries, and the tables in the README and docs rendered from them.

A number quoted in the documentation comes from a run. ``bayes-dps report RUN_DIR --summary
docs/results/NAME.json`` stores what the run's table shows — its rows, with the command that
regenerates the run, the commit it ran at, its config fingerprint and its seeds — and the
Markdown holds a block per summary::

    <!-- results:digits_noisy -->
    ... (the table and its provenance line, rendered) ...
    <!-- /results:digits_noisy -->

A number quoted in prose is one cell of a summary, between markers that name it::

    <!-- v:digits_noisy:bayesian:final acc % -->96.7±0.6<!-- /v -->

(``NAME:ROW:COLUMN``; ``ROW`` is the row's leading cells joined by ``|`` as far as they are
needed, e.g. ``0.3|bayesian`` in a sweep). A sweep folder (``sweep.json``) is summarised as one
table, a row per grid point and method; a benchmark's JSON by ``--benchmark FILE`` as one row per
number it measured. A BADS run with domains or tasks also stores the final mean weight of
each (the paper's Table 4), quoted as ``NAME.groups`` (``<!-- results:smollm_ift.groups -->``,
``<!-- v:smollm_ift.groups:wordnet/define:bads_weightnet -->``).

``python -m bayes_dps.diagnostics.summaries --write README.md docs/*.md`` (``make
docs-tables``) renders every block and value from its summary; a test renders them again and
fails when a table or a value and its summary disagree, so neither can be edited alone, and
:func:`untraced_numbers` finds a number a results page quotes outside them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bayes_dps.diagnostics.tables import (
    as_markdown,
    bads_rows,
    group_weight_rows,
    has_fine_groups,
    online_rows,
    sweep_rows,
)
from bayes_dps.errors import ConfigError
from bayes_dps.io import atomic_write_json

#: where the summaries live, relative to the repository root
SUMMARY_DIR = Path("docs") / "results"

#: ``<!-- results:NAME -->`` ... ``<!-- /results:NAME -->``
BLOCK = re.compile(r"(<!-- results:([\w.-]+) -->\n)(.*?)(<!-- /results:\2 -->)", re.S)

#: ``<!-- v:NAME:ROW:COLUMN -->`` value ``<!-- /v -->``
VALUE = re.compile(r"(<!-- v:([\w.-]+):([^:>]*):([^>]*?) -->)(.*?)(<!-- /v -->)", re.S)


def run_summary(
    run_dir: str | Path, results: dict[str, Any], regenerate: Callable[[dict[str, Any], str], str]
) -> dict[str, Any]:
    """The summary of the finished run in ``run_dir`` whose ``results.json`` holds
    ``results`` (it must verify); ``regenerate(results, command)`` gives the command line that
    regenerates the run."""
    from bayes_dps.diagnostics.report import damaged_entries, run_kind

    sweep_file = Path(run_dir) / "sweep.json"
    if sweep_file.is_file():
        return _sweep_summary(Path(run_dir), json.loads(sweep_file.read_text()), regenerate)
    damaged = damaged_entries(results)
    if damaged:
        raise ConfigError(
            f"{Path(run_dir) / 'results.json'} is damaged ({damaged[0]}); rerun it before "
            "summarising it"
        )
    kind = run_kind(results)
    run_json = Path(run_dir) / "run.json"
    run = json.loads(run_json.read_text()) if run_json.is_file() else {}
    prov = results.get("provenance", {})
    tables = {}
    if kind == "bads" and has_fine_groups(results):  # per domain / task: the paper's Table 4
        tables["groups"] = group_weight_rows(results)
    return {
        "name": results["config"].get("name"),
        "kind": kind,
        "command": regenerate(results, "bads" if kind == "bads" else "online"),
        "commit": prov.get("git_commit"),
        "config_fingerprint": run.get("fingerprint"),
        "seeds": results["config"].get("seeds"),
        "device": prov.get("device"),
        "rows": bads_rows(results) if kind == "bads" else online_rows(results),
        **({"tables": tables} if tables else {}),
    }


def _sweep_summary(
    run_dir: Path, sweep: dict[str, Any], regenerate: Callable[..., str]
) -> dict[str, Any]:
    """A sweep folder's summary: one row per grid point and method (``sweep_rows``), with the
    command (``--sweep`` for the grid) and the provenance of its first point's run."""
    runs = list(sweep.get("runs", {}).values())
    if not runs:
        raise ConfigError(f"{run_dir / 'sweep.json'} holds no finished grid point; rerun it")
    point = _read(run_dir / runs[0]["folder"])
    first = run_summary(run_dir / runs[0]["folder"], point, regenerate)
    keys = sweep.get("keys") or [sweep["key"]]
    values = {k: list(dict.fromkeys(r["values"][k] for r in runs)) for k in keys}
    return {
        **first,
        "name": run_dir.name,
        "command": regenerate(point, first["kind"], values),
        "sweep": values,
        "rows": sweep_rows(sweep),
    }


def _read(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"{run_dir / 'results.json'} cannot be read ({err}); summarise a finished run"
        ) from err


def benchmark_summary(
    path: str | Path, name: str, command: str, commit: str | None = None
) -> dict[str, Any]:
    """The summary of a benchmark's JSON (``benchmarks/*.py --out FILE``): one row per number
    it measured (nested keys joined by ``.``, ratios to 2 decimals, times and ratios under 0.1
    to 3 significant digits), with the command that regenerates it, its settings and the
    commit it ran at (``commit``, else the one the JSON records, else this checkout's)."""
    from bayes_dps.runs.provenance import git_commit

    data = json.loads(Path(path).read_text())
    commit = commit or data.get("provenance", {}).get("git_commit") or git_commit()
    settings = data.get("setup") or data.get("settings") or {}
    rows = [["quantity", "value"]]

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            ratio = "_over_" in prefix and abs(value) >= 0.1
            rows.append([prefix, f"{value:.2f}" if ratio else f"{value:.3g}"])

    for key, value in data.items():
        if key not in ("setup", "settings", "provenance"):
            walk(key, value)
    return {
        "name": name,
        "kind": "benchmark",
        "command": command,
        "commit": commit,
        "config_fingerprint": None,
        "seeds": [],
        "device": settings.get("device"),
        "settings": settings,
        "rows": rows,
    }


def write_summary(
    run_dir: str | Path,
    results: dict[str, Any],
    regenerate: Callable[[dict[str, Any], str], str],
    out: str | Path,
) -> Path:
    return atomic_write_json(Path(out), run_summary(run_dir, results, regenerate))


def table(summary: dict[str, Any], part: str | None = None) -> list[list[str]]:
    """A summary's main table, or its extra table ``part`` (``groups``: the final mean weight
    of every domain or task, quoted as ``NAME.groups``)."""
    if part is None:
        return summary["rows"]
    extra = summary.get("tables", {})
    if part not in extra:
        raise ConfigError(
            f"summary {summary['name']!r} has no table {part!r}; its tables: {['(main)', *extra]}"
        )
    return extra[part]


def render(summary: dict[str, Any], part: str | None = None) -> str:
    """The Markdown of a summary: its table (or its extra table ``part``) and one line saying
    where it came from."""
    rows = table(summary, part)
    commit = (summary.get("commit") or "unknown")[:12]
    if summary.get("kind") == "benchmark":
        settings = ", ".join(f"{k} {v}" for k, v in summary.get("settings", {}).items())
        return (
            as_markdown(rows)
            + f"\n\n<sub>`{summary['command']}` ({settings}); commit {commit}. Regenerate: "
            f"rerun with `--out FILE`, then `python -m bayes_dps.diagnostics.summaries "
            f"--benchmark FILE --name {summary['name']} --command '...'` and "
            "`make docs-tables`.</sub>\n"
        )
    seeds = summary.get("seeds")
    return (
        as_markdown(rows)
        + f"\n\n<sub>Seeds {seeds}; `{summary['command']}`; commit {commit}, config "
        f"fingerprint {summary.get('config_fingerprint')}, {summary.get('device')}. "
        "Regenerate: rerun, then `bayes-dps report RUN_DIR --summary "
        f"docs/results/{summary['name']}.json` and `make docs-tables`.</sub>\n"
    )


def cell(summary: dict[str, Any], row: str, column: str, part: str | None = None) -> str:
    """The cell of ``summary``'s table (or its extra table ``part``) in the row whose leading
    cells are ``row`` (joined by ``|``) and the column headed ``column``."""
    head, *body = table(summary, part)
    if column not in head:
        raise ConfigError(
            f"summary {summary['name']!r} has no column {column!r}; its columns: {head}"
        )
    lead = row.split("|")
    matches = [r for r in body if r[: len(lead)] == lead]
    if len(matches) != 1:
        rows = ["|".join(r[:2]) for r in body]
        raise ConfigError(
            f"summary {summary['name']!r}: {len(matches)} rows start with {row!r} (one needed); "
            f"its rows: {rows}"
        )
    return matches[0][head.index(column)]


def render_blocks(text: str, summary_dir: Path) -> str:
    """``text`` with every results block rendered from ``summary_dir/NAME.json``."""

    cache: dict[str, dict[str, Any]] = {}

    def load(quoted: str) -> tuple[dict[str, Any], str | None]:
        name, _, part = quoted.partition(".")
        if name not in cache:
            path = summary_dir / f"{name}.json"
            if not path.is_file():
                raise ConfigError(f"results {name!r} quoted, but there is no summary {path}")
            cache[name] = json.loads(path.read_text())
        return cache[name], part or None

    def block(match: re.Match) -> str:
        return match.group(1) + render(*load(match.group(2))) + match.group(4)

    def value(match: re.Match) -> str:
        name, row, column = match.group(2, 3, 4)
        summary, part = load(name)
        return match.group(1) + cell(summary, row, column, part) + match.group(6)

    return VALUE.sub(value, BLOCK.sub(block, text))


#: a decimal number, a percentage or a ratio such as ``1.3×``
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:\s?%|×)|(?<![\w.])\d+\.\d+")


#: names followed by a version number
VERSIONED = tuple(f"{name} " for name in ("WordNet", "Python", "PyTorch", "CUDA", "version"))

#: a blockquote that quotes a paper's setting and result: ``> **Paper.** ...`` and its lines
PAPER = re.compile(r"^> \*\*Paper[^\n]*(?:\n>[^\n]*)*", re.M)


def untraced_numbers(text: str) -> list[str]:
    """The measured-looking numbers (decimals, percentages, ratios) of ``text`` outside the
    rendered results blocks and values, code blocks, inline code, HTML comments, links and
    the quotations of a paper (a blockquote opening ``> **Paper``: what the paper reports, in
    its own numbers): on a page of results, each is a number typed by hand."""
    for pattern in (BLOCK, VALUE, PAPER):
        text = pattern.sub(" ", text)
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
    text = re.sub(r"\$[^$\n]+\$", " ", text)  # maths
    return [
        m.group(0)
        for m in NUMBER.finditer(text)
        if not text[: m.start()].endswith(VERSIONED)  # WordNet 3.0 is a version, not a result
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--write", action="store_true", help="rewrite the files in place")
    parser.add_argument("--summaries", type=Path, default=SUMMARY_DIR)
    parser.add_argument("--benchmark", type=Path, help="store a benchmark's JSON as a summary")
    parser.add_argument("--name", help="the benchmark summary's name (docs/results/NAME.json)")
    parser.add_argument("--command", help="the command that regenerates the benchmark's JSON")
    parser.add_argument("--commit", help="the commit the benchmark ran at (default: recorded)")
    args = parser.parse_args(argv)
    if args.benchmark:
        if not (args.name and args.command):
            parser.error("--benchmark needs --name and --command")
        out = args.summaries / f"{args.name}.json"
        summary = benchmark_summary(args.benchmark, args.name, args.command, args.commit)
        atomic_write_json(out, summary)
        print(f"wrote {out}")
        return 0
    stale = []
    for path in args.files:
        text = path.read_text()
        new = render_blocks(text, args.summaries)
        if new != text:
            stale.append(str(path))
            if args.write:
                path.write_text(new)
    verb = "rewrote" if args.write else "out of date"
    print(f"{verb}: {', '.join(stale)}" if stale else "every results table matches its summary")
    return 0 if args.write or not stale else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
