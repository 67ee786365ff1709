"""The README's quick-start code runs as shown."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart_code() -> str:
    text = README.read_text()
    section = text.split("## Quick start", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def bads_code() -> str:
    section = README.read_text().split("### BADS inside your own loop", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_quickstart_runs(capsys):
    namespace: dict = {}
    exec(compile(quickstart_code(), str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert "'acc'" in out
    assert namespace["noisy"].sum() == round(0.2 * len(namespace["splits"].train))
    acc = namespace["evaluate"](
        namespace["model"], namespace["test"], namespace["splits"].num_classes
    )["acc"]
    assert acc > 0.8


def test_the_npz_snippet_writes_a_file_the_npz_loader_reads(tmp_path, monkeypatch):
    """The README's bring-your-own-data block runs as shown (it defines what it uses) and its
    file loads as the ``npz`` dataset."""
    from bayes_dps.data import load_data

    section = README.read_text().split("**Your own data (`.npz`)**", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {})
    splits = load_data({"name": "npz", "path": str(tmp_path / "mine.npz")})
    assert splits.num_classes == 10 and len(splits.meta) == 50 and len(splits.test) == 540


def test_bads_quickstart_runs(capsys):
    """The BADS block runs on its own, in a fresh namespace (it imports what it uses)."""
    namespace: dict = {}
    exec(compile(bads_code(), str(README), "exec"), namespace)
    assert "mean w: noisy" in capsys.readouterr().out
    w, flipped = namespace["w"], namespace["flipped"]
    assert w[flipped].mean() < 0.3 * w[~flipped].mean()  # noisy labels get low weight
    assert len(namespace["keep"]) == round(0.5 * len(w))
    assert namespace["idata"].posterior["w"].shape[:2] == (1, 75)


def command_lines() -> list[str]:
    """Every ``bayes-dps`` command the README shows — in shell blocks and in inline code — that
    is meant to run as written (synopses with ``[...]`` placeholders are left out)."""
    text = README.read_text()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if "bayes-dps " in line or "bayes_dps.cli " in line:
                found.append(line)
    found += [  # inline code that is a whole command (it names its config)
        c for c in re.findall(r"`((?:\.venv/bin/)?bayes-dps [^`]*)`", text) if "--config" in c
    ]
    keep = []
    for line in found:
        args = re.split(r"bayes-dps |bayes_dps\.cli ", line, maxsplit=1)[1]
        placeholder = ("...", "…", "RUN_DIR", "NAME", "{")
        if "[" in args.replace("=[", "") or any(p in args for p in placeholder):
            continue
        keep.append(args)
    return keep


def test_readme_has_commands_to_check():
    assert len(command_lines()) >= 6


def test_every_readme_command_parses_and_its_config_loads():
    """Each command's options parse and, for ``online`` / ``bads``, its config (file or bundled
    name, with every ``--set``) passes the schema: a README that drifts from the code fails."""
    import shlex

    from bayes_dps.cli import _load, build_parser

    for args in command_lines():
        argv = shlex.split(args)
        parsed = build_parser().parse_args(argv)
        if parsed.command in ("online", "bads"):
            _load(parsed, parsed.command)
