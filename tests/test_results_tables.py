"""Numbers in the README and docs are rendered from stored summaries (``docs/results``), and a
summary records the command that regenerates its run: a table edited alone, a summary edited
alone, or a command that does not give back the run all fail here."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from helpers import FAST, ROOT

from bayes_dps.cli import main
from bayes_dps.diagnostics.summaries import BLOCK, SUMMARY_DIR, render, render_blocks

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_results_table_is_its_summary_rendered(path):
    text = path.read_text()
    assert render_blocks(text, ROOT / SUMMARY_DIR) == text, (
        f"{path.name}: a results table differs from its summary in docs/results; regenerate "
        "with `make docs-tables` (or rerun the run and `bayes-dps report RUN --summary`)"
    )


def test_every_summary_is_quoted_somewhere_and_names_its_command():
    quoted = {m.group(2) for p in DOCS for m in BLOCK.finditer(p.read_text())}
    stored = {p.stem for p in (ROOT / SUMMARY_DIR).glob("*.json")}
    assert quoted == stored
    for name in stored:
        summary = json.loads((ROOT / SUMMARY_DIR / f"{name}.json").read_text())
        assert summary["command"].startswith("bayes-dps ") and summary["commit"]
        assert summary["rows"] and len(summary["seeds"]) >= 1


def test_a_table_or_a_summary_edited_alone_is_caught(tmp_path):
    summary = {"name": "t", "kind": "online", "command": "bayes-dps online --config t",
               "commit": "abc", "config_fingerprint": "f", "seeds": [0], "device": "cpu",
               "rows": [["method", "final acc %"], ["uniform", "96.7±0.6"]]}  # fmt: skip
    (tmp_path / "t.json").write_text(json.dumps(summary))
    doc = f"text\n<!-- results:t -->\n{render(summary)}<!-- /results:t -->\nmore\n"
    assert render_blocks(doc, tmp_path) == doc
    assert render_blocks(doc.replace("96.7±0.6", "97.0±0.4"), tmp_path) != doc.replace(
        "96.7±0.6", "97.0±0.4"
    )  # the table edited by hand
    summary["rows"][1][1] = "97.0±0.4"
    (tmp_path / "t.json").write_text(json.dumps(summary))
    assert render_blocks(doc, tmp_path) != doc  # the summary changed, the table not


def test_a_summarys_command_regenerates_its_run(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["online", "--config", "digits_noisy", *FAST, "--out", str(out), "--threads", "1",
            "--set", "epochs=2", "methods=[uniform, train_loss]", "seeds=[1]",
            "n_b=16"]  # fmt: skip
    assert main(argv) == 0
    assert main(["report", str(out), "--summary", str(tmp_path / "s.json")]) == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    command = shlex.split(summary["command"])
    assert command[:4] == ["bayes-dps", "online", "--config", "digits_noisy"]
    assert "n_b=16" in command and "epochs=2" in command
    again = tmp_path / "again"
    assert main([*command[1:], *FAST, "--out", str(again)]) == 0
    assert main(["report", str(again), "--summary", str(tmp_path / "t.json")]) == 0
    rows = json.loads((tmp_path / "t.json").read_text())["rows"]
    assert rows == summary["rows"] and Path(tmp_path / "t.json").is_file()


def test_a_damaged_run_is_not_summarised(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["online", "--config", "digits_noisy", *FAST, "--out", str(out), "--set", "epochs=1",
            "methods=[uniform]", "seeds=[0]"]  # fmt: skip
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    results["methods"]["uniform"]["seeds"][0]["final_acc"] = "lots"
    (out / "results.json").write_text(json.dumps(results))
    assert main(["report", str(out), "--summary", str(tmp_path / "s.json")]) == 2
    assert "is damaged" in capsys.readouterr().err and not (tmp_path / "s.json").exists()
