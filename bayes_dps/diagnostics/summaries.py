"""Stored result summaries, and the tables in the README and docs rendered from them.

A number quoted in the documentation comes from a run. ``bayes-dps report RUN_DIR --summary
docs/results/NAME.json`` stores what the run's table shows — its rows, with the command that
regenerates the run, the commit it ran at, its config fingerprint and its seeds — and the
Markdown holds a block per summary::

    <!-- results:digits_noisy -->
    ... (the table and its provenance line, rendered) ...
    <!-- /results:digits_noisy -->

``python -m bayes_dps.diagnostics.summaries --write README.md docs/*.md`` (``make
docs-tables``) renders every block from its summary; a test renders them again and fails when a
table and its summary disagree, so neither can be edited alone.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bayes_dps.diagnostics.tables import as_markdown, bads_rows, online_rows
from bayes_dps.errors import ConfigError
from bayes_dps.io import atomic_write_json

#: where the summaries live, relative to the repository root
SUMMARY_DIR = Path("docs") / "results"

#: ``<!-- results:NAME -->`` ... ``<!-- /results:NAME -->``
BLOCK = re.compile(r"(<!-- results:([\w.-]+) -->\n)(.*?)(<!-- /results:\2 -->)", re.S)


def run_summary(
    run_dir: str | Path, results: dict[str, Any], regenerate: Callable[[dict[str, Any], str], str]
) -> dict[str, Any]:
    """The summary of the finished run in ``run_dir`` whose ``results.json`` holds
    ``results`` (it must verify); ``regenerate(results, command)`` gives the command line that
    regenerates the run."""
    from bayes_dps.diagnostics.report import damaged_entries, run_kind

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
    return {
        "name": results["config"].get("name"),
        "kind": kind,
        "command": regenerate(results, "bads" if kind == "bads" else "online"),
        "commit": prov.get("git_commit"),
        "config_fingerprint": run.get("fingerprint"),
        "seeds": results["config"].get("seeds"),
        "device": prov.get("device"),
        "rows": bads_rows(results) if kind == "bads" else online_rows(results),
    }


def write_summary(
    run_dir: str | Path,
    results: dict[str, Any],
    regenerate: Callable[[dict[str, Any], str], str],
    out: str | Path,
) -> Path:
    return atomic_write_json(Path(out), run_summary(run_dir, results, regenerate))


def render(summary: dict[str, Any]) -> str:
    """The Markdown of a summary: its table and one line saying where it came from."""
    commit = (summary.get("commit") or "unknown")[:12]
    seeds = summary.get("seeds")
    return (
        as_markdown(summary["rows"])
        + f"\n\n<sub>Seeds {seeds}; `{summary['command']}`; commit {commit}, config "
        f"fingerprint {summary.get('config_fingerprint')}, {summary.get('device')}. "
        "Regenerate: rerun, then `bayes-dps report RUN_DIR --summary "
        f"docs/results/{summary['name']}.json` and `make docs-tables`.</sub>\n"
    )


def render_blocks(text: str, summary_dir: Path) -> str:
    """``text`` with every results block rendered from ``summary_dir/NAME.json``."""

    def block(match: re.Match) -> str:
        name = match.group(2)
        path = summary_dir / f"{name}.json"
        if not path.is_file():
            raise ConfigError(f"results block {name!r}: no summary {path}")
        return match.group(1) + render(json.loads(path.read_text())) + match.group(4)

    return BLOCK.sub(block, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--write", action="store_true", help="rewrite the files in place")
    parser.add_argument("--summaries", type=Path, default=SUMMARY_DIR)
    args = parser.parse_args(argv)
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
