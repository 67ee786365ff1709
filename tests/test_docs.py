"""The README and the documentation site: every Python block runs as shown, every command
parses, the generated pages (API and config reference, results) are current, and the site
builds with ``mkdocs build --strict`` (a broken link, a missing page or an API name that no
longer exists fails)."""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys

import pytest
from helpers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

#: a block preceded by this visible line is not run, and the line says why
NOT_RUN = "*Not run in the tests:"


def python_blocks() -> list[tuple[str, int, str]]:
    """``(page, n, code)`` for every ```` ```python ```` block of README.md and docs/."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for n, match in enumerate(re.finditer(r"```python\n(.*?)```", text, re.S)):
            before = text[: match.start()].rstrip().splitlines()[-1:] or [""]
            if not before[0].startswith(NOT_RUN):
                found.append((str(page.relative_to(ROOT)), n, match.group(1)))
    return found


def _check_online_quickstart(ns: dict, out: str) -> None:
    from bayes_dps.data import BatchStream
    from bayes_dps.tasks import evaluate

    test = BatchStream.sequential(ns["splits"].test, 512)
    assert evaluate(ns["model"], test, ns["splits"].num_classes)["acc"] > 0.8


def _check_bads_quickstart(ns: dict, out: str) -> None:
    assert "mean w: noisy" in out
    w, noisy = ns["w"], ns["noisy"]
    assert w[noisy].mean() < 0.3 * w[~noisy].mean()  # mislabelled points get low weight


def _check_guide_bads(ns: dict, out: str) -> None:
    _check_bads_quickstart({"w": ns["w"], "noisy": ns["flipped"]}, out)
    assert len(ns["keep"]) == round(0.5 * len(ns["w"]))
    assert ns["idata"].posterior["w"].shape[:2] == (1, 75)


def _check_npz(ns: dict, out: str) -> None:
    from bayes_dps.data import load_data

    splits = load_data({"name": "npz", "path": "mine.npz"})
    assert splits.num_classes == 10 and len(splits.meta) == 50 and len(splits.test) == 540


def _check_ablation_priors(ns: dict, out: str) -> None:
    for line in out.splitlines():  # every prior and kernel separates the groups
        noisy, clean = (float(v) for v in re.findall(r"(?:noisy|clean) ([\d.]+)", line))
        assert noisy < 0.5 * clean, line


def _check_diagnostics(ns: dict, out: str) -> None:
    assert ns["idata"].posterior["w"].shape[0] == 2 and "every chain ranks" in out


def _check_integrations_loops(ns: dict, out: str) -> None:
    _check_online_quickstart(ns, out)
    _check_bads_quickstart(ns, out)


def _check_integrations_hf(ns: dict, out: str) -> None:
    _check_bads_quickstart(ns, out)
    assert ns["sampler"].num_steps == 1500 and "'bads/w/noisy'" in out


def _check_resume(ns: dict, out: str) -> None:
    assert "resumed = uninterrupted" in out


#: what a block must have done, beyond running: (page, block number) → check
CHECKS = {
    ("README.md", 0): _check_online_quickstart,
    ("README.md", 1): _check_bads_quickstart,
    ("docs/guide/online.md", 0): _check_online_quickstart,
    ("docs/guide/bads.md", 0): _check_guide_bads,
    ("docs/guide/data.md", 0): _check_npz,
    ("docs/guide/ablations.md", 0): _check_ablation_priors,
    ("docs/guide/diagnostics.md", 0): _check_diagnostics,
    ("docs/guide/resume.md", 0): _check_resume,
    ("docs/guide/loops.md", 0): _check_integrations_loops,
    ("docs/guide/huggingface.md", 0): _check_integrations_hf,
    ("docs/guide/lightning.md", 0): _check_online_quickstart,
}


def test_the_docs_have_the_blocks_the_checks_name():
    blocks = {(page, n) for page, n, _ in python_blocks()}
    assert set(CHECKS) <= blocks, set(CHECKS) - blocks


@pytest.mark.parametrize(("page", "n", "code"), python_blocks(), ids=lambda v: str(v)[:30])
def test_every_python_block_runs_as_shown(page, n, code, tmp_path, monkeypatch, capsys):
    """Each block runs on its own, in a fresh namespace and an empty folder (it imports and
    defines what it uses), on the offline defaults."""
    import torch

    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    namespace: dict = {"__name__": "__main__"}
    exec(compile(code, f"{page} block {n}", "exec"), namespace)
    check = CHECKS.get((page, n))
    if check:
        check(namespace, capsys.readouterr().out)


def command_lines() -> list[str]:
    """Every ``bayes-dps`` command the README and docs show — in shell blocks and in inline
    code — that is meant to run as written (synopses with placeholders are left out)."""
    found = []
    for page in PAGES:
        text = page.read_text()
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
        placeholder = ("...", "…", "RUN_DIR", "NAME", "{", "<")
        if "[" in args.replace("=[", "").replace("'methods=[", "") or any(
            p in args for p in placeholder
        ):
            continue
        keep.append(args)
    return keep


def test_the_docs_have_commands_to_check():
    assert len(command_lines()) >= 10


def test_every_documented_command_parses_and_its_config_loads():
    """Each command's options parse and, for ``online`` / ``bads``, its config (file or bundled
    name, with every ``--set``) passes the schema: docs that drift from the code fail."""
    from bayes_dps.cli import _load, build_parser

    for args in command_lines():
        parsed = build_parser().parse_args(shlex.split(args))
        if parsed.command in ("online", "bads"):
            _load(parsed, parsed.command)


def test_the_generated_pages_are_current():
    """API reference, config reference and results: what ``make docs-pages`` would write."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "docs_pages.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_api_reference_lists_every_public_name():
    sys.path.insert(0, str(ROOT / "tools"))
    from docs_pages import API_PAGES, SKIP

    text = "".join((ROOT / "docs" / "api" / page).read_text() for _, page in API_PAGES)
    for module, _ in API_PAGES:
        for name in importlib.import_module(module).__all__:
            if name not in SKIP:
                assert f"{module}.{name}" in text or f".{name}\n" in text, (module, name)


def test_the_site_builds_strictly(tmp_path):
    """``mkdocs build --strict``: a broken link or anchor, a page missing from the nav, an API
    entry that no longer resolves or a snippet that is gone fails."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "selection" / "index.html").is_file()


def test_the_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    first_screen = "\n".join(text.splitlines()[:40])
    assert "make demo" in first_screen and "make test" in first_screen
