"""The example notebooks execute headless (short settings) and are stored without outputs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbclient
import nbformat
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def test_the_six_examples_exist():
    assert [p.name for p in NOTEBOOKS] == [
        "01_online_selection.ipynb",
        "02_bads_posterior.ipynb",
        "03_ablations.ipynb",
        "04_language.ipynb",
        "05_huggingface_trainer.ipynb",
        "06_lightning.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name} has stored outputs; clear them before committing"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_executes(path, monkeypatch, tmp_path):
    monkeypatch.setenv("BAYES_DPS_SMALL", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend shows figures
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        book,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    start = time.perf_counter()
    client.execute(env=dict(os.environ))
    seconds = time.perf_counter() - start
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors
    # every figure-producing notebook shows at least one image
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name} drew no figure"
    print(f"{path.name}: {seconds:.0f} s")
