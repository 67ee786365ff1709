"""The tree is the architecture (docs/architecture.md): folders import only downwards, no class
outgrows what a reader can hold, the trainer core stays a core, nothing generated is tracked,
and the helpers that used to be written twice exist once."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest
from helpers import ROOT

PACKAGE = ROOT / "bayes_dps"
#: bottom to top; a module may import its own layer and those below
LAYERS = [
    "base",  # errors, io, input_files, checks, distributed, nonfinite, configs (data files)
    "data",
    "models",
    "inference",
    "selection",
    "training",
    "tasks",
    "runs",
    "methods",
    "integrations",  # Hugging Face, Lightning, any loop: above the methods they drive
    "config",
    "diagnostics",
    "cli",
]
BASE = {"errors", "io", "input_files", "checks", "distributed", "nonfinite", "configs"}


def layer_of(module: str) -> str | None:
    """The layer of ``bayes_dps.<part>...`` (``None`` for the package root, which re-exports
    the public names by string, lazily)."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] in ("__init__", "_moved"):
        return None
    top = parts[1]
    return "base" if top in BASE else top


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts)
        out[name.removesuffix(".__init__")] = path
    return out


def imports(path: Path) -> set[str]:
    """Every ``bayes_dps`` module a file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("bayes_dps")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("bayes_dps"):
                found.add(node.module)
    return found


def test_every_module_has_a_layer():
    unknown = {m for m in modules() if layer_of(m) not in (None, *LAYERS)}
    assert not unknown, f"modules outside the layers of docs/architecture.md: {sorted(unknown)}"


def test_layers_import_only_downwards():
    back = []
    for name, path in modules().items():
        mine = layer_of(name)
        if mine is None:
            continue
        for target in imports(path):
            theirs = layer_of(target)
            if theirs is not None and LAYERS.index(theirs) > LAYERS.index(mine):
                back.append(f"{name} ({mine}) imports {target} ({theirs})")
    assert not back, "back-arrows:\n" + "\n".join(sorted(back))


def test_no_class_over_250_lines():
    long = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 250:
                long.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not long, long


def test_the_trainer_core_stays_small():
    lines = sum(len(p.read_text().splitlines()) for p in (PACKAGE / "training").glob("*.py"))
    assert lines < 1000, f"bayes_dps/training holds {lines} lines: it is the trainer core only"


def tracked() -> list[str]:
    done = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip("not a git checkout")
    return done.stdout.split()


def test_nothing_generated_is_tracked():
    generated = [
        f
        for f in tracked()
        if f.startswith("runs/")
        or (f.endswith((".json", ".nc", ".npy", ".csv")) and "/" not in f)
        or (f.endswith(".pt") and not f.startswith("tests/reference/"))
    ]
    assert not generated, f"generated files in git: {generated}"


@pytest.mark.parametrize(
    "snippet",
    [
        "was_training = ",  # one eval_mode / train_mode (models/modes.py)
        "(first < 0) & bad",  # one non-finite guard (nonfinite.py)
        "masks.update(",  # one group-mask function (tasks/groups.py)
    ],
)
def test_helpers_are_written_once(snippet):
    holders = [n for n, p in modules().items() if snippet in p.read_text()]
    assert len(holders) <= 1, f"{snippet!r} in {holders}"


def test_test_helpers_are_not_redeclared():
    again = [
        p.name
        for p in (ROOT / "tests").glob("test_*.py")
        if any(line.startswith(("ROOT = ", "FAST = ")) for line in p.read_text().splitlines())
    ]
    assert not again, f"declare ROOT / FAST once, in tests/helpers.py: {again}"
