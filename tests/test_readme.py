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


def test_bads_quickstart_runs(capsys):
    """The BADS block continues the quick start's namespace, as a reader would run it."""
    namespace: dict = {}
    exec(compile(quickstart_code(), str(README), "exec"), namespace)
    exec(compile(bads_code(), str(README), "exec"), namespace)
    assert "mean w: noisy" in capsys.readouterr().out
    w, flipped = namespace["w"], namespace["flipped"]
    assert w[flipped].mean() < 0.3 * w[~flipped].mean()  # noisy labels get low weight
    assert len(namespace["keep"]) == round(0.5 * len(w))
    assert namespace["idata"].posterior["w"].shape[:2] == (1, 75)
