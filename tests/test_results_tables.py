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
from bayes_dps.diagnostics.summaries import (
    BLOCK,
    SUMMARY_DIR,
    VALUE,
    render,
    render_blocks,
    untraced_numbers,
)
from bayes_dps.diagnostics.summaries import main as summaries_main
from bayes_dps.errors import ConfigError

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_results_table_is_its_summary_rendered(path):
    text = path.read_text()
    assert render_blocks(text, ROOT / SUMMARY_DIR) == text, (
        f"{path.name}: a results table differs from its summary in docs/results; regenerate "
        "with `make docs-tables` (or rerun the run and `bayes-dps report RUN --summary`)"
    )


def test_every_summary_is_quoted_somewhere_and_names_its_command():
    quoted = {
        m.group(2).partition(".")[0]
        for p in DOCS
        for pattern in (BLOCK, VALUE)
        for m in pattern.finditer(p.read_text())
    }
    stored = {p.stem for p in (ROOT / SUMMARY_DIR).glob("*.json")}
    assert quoted == stored
    for name in stored:
        summary = json.loads((ROOT / SUMMARY_DIR / f"{name}.json").read_text())
        assert summary["commit"] and summary["rows"], name
        if summary["kind"] == "benchmark":
            assert summary["command"].startswith("python benchmarks/"), name
        else:
            assert summary["command"].startswith("bayes-dps "), name
            assert len(summary["seeds"]) >= 1, name


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


def test_a_sweep_is_summarised_as_one_table_with_its_sweep_command(tmp_path):
    out = tmp_path / "sweep"
    argv = ["online", "--config", "digits_noisy", *FAST, "--out", str(out), "--threads", "1",
            "--set", "epochs=1", "methods=[bayesian]", "seeds=[0]",
            "--sweep", "bayesian.alpha=0.1,0.3"]  # fmt: skip
    assert main(argv) == 0
    assert main(["report", str(out), "--summary", str(tmp_path / "s.json")]) == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["rows"][0][:2] == ["bayesian.alpha", "method"]
    assert [r[:2] for r in summary["rows"][1:]] == [["0.1", "bayesian"], ["0.3", "bayesian"]]
    command = shlex.split(summary["command"])
    assert command[-4:] == ["--sweep", "bayesian.alpha=0.1,0.3", "--threads", "1"]
    assert not any(c.startswith("bayesian.alpha=") for c in command[:-3])
    assert summary["commit"] and summary["seeds"] == [0]
    # the swept value is not also pinned by a --set, and the command runs the same grid again
    again = tmp_path / "again"
    assert main([*command[1:], *FAST, "--out", str(again)]) == 0
    assert main(["report", str(again), "--summary", str(tmp_path / "t.json")]) == 0
    rows = json.loads((tmp_path / "t.json").read_text())["rows"]
    assert [r[:3] for r in rows] == [r[:3] for r in summary["rows"]]


def _summary(rows):
    return {"name": "t", "kind": "online", "command": "bayes-dps online --config t",
            "commit": "abc", "config_fingerprint": "f", "seeds": [0], "device": "cpu",
            "rows": rows}  # fmt: skip


def test_a_value_quoted_in_prose_is_its_summarys_cell(tmp_path):
    rows = [["alpha", "method", "final acc %"], ["0.1", "bayesian", "96.1±0.2"],
            ["0.3", "bayesian", "96.7±0.6"]]  # fmt: skip
    (tmp_path / "t.json").write_text(json.dumps(_summary(rows)))
    doc = "Bayesian ends at <!-- v:t:0.3|bayesian:final acc % -->96.7±0.6<!-- /v --> here.\n"
    assert render_blocks(doc, tmp_path) == doc
    typed = doc.replace("96.7±0.6", "97.0±0.4")
    assert render_blocks(typed, tmp_path) == doc  # a value edited by hand is put back
    wrong_row = doc.replace("0.3|bayesian", "0.2|bayesian")
    with pytest.raises(ConfigError, match=r"0 rows start with '0.2\|bayesian'"):
        render_blocks(wrong_row, tmp_path)
    with pytest.raises(ConfigError, match="no column 'acc'"):
        render_blocks(doc.replace(":final acc % -->", ":acc -->"), tmp_path)
    with pytest.raises(ConfigError, match="no summary"):
        render_blocks(doc.replace("v:t:", "v:u:"), tmp_path)


def test_a_summarys_groups_table_is_quoted_by_its_suffix(tmp_path):
    summary = _summary([["method", "acc"], ["bads", "47.0"]])
    summary["tables"] = {"groups": [["group", "bads"], ["wordnet/define", "0.134 ± 0.000"],
                                    ["chatterbot/ai", "0.359 ± 0.000"]]}  # fmt: skip
    (tmp_path / "t.json").write_text(json.dumps(summary))
    doc = (
        "<!-- results:t.groups -->\n<!-- /results:t.groups -->\n"
        "The corrupted task: <!-- v:t.groups:wordnet/define:bads -->x<!-- /v -->.\n"
    )
    out = render_blocks(doc, tmp_path)
    assert "| chatterbot/ai | 0.359 ± 0.000 |" in out and "| bads | 47.0 |" not in out
    assert "<!-- v:t.groups:wordnet/define:bads -->0.134 ± 0.000<!-- /v -->" in out
    with pytest.raises(ConfigError, match="no table 'tasks'"):
        render_blocks(doc.replace("t.groups", "t.tasks"), tmp_path)


def test_untraced_numbers_finds_what_was_typed_by_hand():
    text = (
        "Ends at 96.7 % and 2.5× faster; <!-- v:t:a:b -->94.4<!-- /v --> is traced,\n"
        "`alpha=0.3` is a setting, [link](x/1.2.md), ```\n9.9\n``` and 3 seeds are not results.\n"
        "<!-- results:t -->\n| 12.5 |\n<!-- /results:t -->\n"
        "> **Paper.** 48 → 32 epochs to 40 %,\n> 1.29× faster.\n\n> Ours: 0.5 %. WordNet 3.0\n"
    )
    assert untraced_numbers(text) == ["96.7 %", "2.5×", "0.5 %"]


def test_a_benchmark_is_stored_as_a_summary(tmp_path):
    bench = {"bayesian_over_rho_loss": 1.4660021, "median_ms": {"uniform": 1.6188},
             "setup": {"model": "mlp", "device": "cpu", "threads": 1}}  # fmt: skip
    (tmp_path / "b.json").write_text(json.dumps(bench))
    command = "python benchmarks/selection_cost.py --model mlp"
    argv = ["--benchmark", str(tmp_path / "b.json"), "--name", "cost", "--command", command,
            "--summaries", str(tmp_path)]  # fmt: skip
    assert summaries_main(argv) == 0
    summary = json.loads((tmp_path / "cost.json").read_text())
    assert summary["rows"] == [
        ["quantity", "value"], ["bayesian_over_rho_loss", "1.47"], ["median_ms.uniform", "1.62"]
    ]  # fmt: skip
    doc = "<!-- v:cost:bayesian_over_rho_loss:value -->x<!-- /v -->"
    assert render_blocks(doc, tmp_path) == doc.replace(">x<", ">1.47<")
    assert "selection_cost.py --model mlp" in render(summary)


#: the pages that report results: every number on them is rendered from a summary
RESULTS_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs" / "report").glob("*.md")),
                 ROOT / "docs" / "which-method.md", ROOT / "docs" / "performance.md"]  # fmt: skip


@pytest.mark.parametrize("path", RESULTS_PAGES, ids=lambda p: p.name)
def test_results_pages_quote_no_number_typed_by_hand(path):
    assert untraced_numbers(path.read_text()) == [], (
        f"{path.relative_to(ROOT)} quotes numbers outside results blocks and "
        "<!-- v:NAME:ROW:COLUMN --> values; quote them from a stored summary"
    )
