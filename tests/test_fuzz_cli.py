"""Property-based hardening of the command line: whatever a user types after ``--set``, the
outcome is a completed run (``results.json`` written) or exit status 2 with a single
``error:`` line — never a traceback, never a half-written ``results.json``, never unbounded
memory (the worker runs under a 6 GiB address-space cap).

Two tests per command: every schema key with a fixed list of hostile values, and one to three
random ``--set`` lines drawn by ``hypothesis`` (fixed seed; ``BAYES_DPS_FUZZ_EXAMPLES=1000``
for a longer run). The runs are tiny (digits, an 8-unit MLP, ``step_limit``), so a valid value
completes in about a second.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from bayes_dps.config import walk
from bayes_dps.config.keys import BADS, ONLINE

WORKER = Path(__file__).with_name("fuzz_worker.py")
MEMORY_CAP = 6 * 2**30
EXAMPLES = int(os.environ.get("BAYES_DPS_FUZZ_EXAMPLES", "25"))
TIMEOUT = 180

BASE = {
    "online": {
        "name": "fuzz",
        "dataset": {"name": "digits", "meta_per_class": 3, "noise": 0.2},
        "model": "mlp",
        "model_options": {"hidden": [8]},
        "methods": ["uniform", "bayesian", "rho_loss"],
        "seeds": 1,
        "epochs": 1,
        "n_B": 64,
        "n_b": 8,
        "zero_shot": {"name": "holdout"},
        "holdout": {"epochs": 1},
        "svp": {"epochs": 1},
        "progress": False,
        "step_limit": 2,
    },
    "bads": {
        "name": "fuzz",
        "dataset": {"name": "digits", "meta_per_class": 3, "noise": 0.3},
        "model": "mlp",
        "model_options": {"hidden": [8]},
        "methods": ["bads", "mixing"],
        "seeds": 1,
        "steps": 4,
        "eval_every": 2,
        "batch_size": 16,
        "meta_batch_size": 8,
        "progress": False,
        "step_limit": 4,
        "bads": {"s_avg": 2, "thin": 1},
        "contrastive": {"base_steps": 2, "finetune_steps": 2},
    },
}
KEYS = {"online": [k for k, _ in walk(ONLINE)], "bads": [k for k, _ in walk(BADS)]}
HOSTILE = [None, -1, 1e300, float("nan"), "x", [1, "a"], {"a": 1}]


class Worker:
    """The child of ``fuzz_worker.py``: one command line in, one JSON answer out."""

    def __init__(self, cwd: Path) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(  # in its own folder: relative paths a case sets land there
            [sys.executable, str(WORKER), str(MEMORY_CAP)],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )

    def run(self, argv: list[str]) -> dict:
        assert self.proc.poll() is None, f"the fuzz worker died (code {self.proc.returncode})"
        self.proc.stdin.write(json.dumps({"argv": argv}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT)
        if not ready:
            self.proc.kill()
            pytest.fail(f"no answer within {TIMEOUT} s to {argv}")
        line = self.proc.stdout.readline()
        assert line, f"the fuzz worker died on {argv} (killed for memory?)"
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    w = Worker(tmp_path_factory.mktemp("fuzz_cwd"))
    yield w
    w.close()


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz_configs")
    paths = {}
    for command, cfg in BASE.items():
        paths[command] = folder / f"{command}.yaml"
        paths[command].write_text(yaml.safe_dump(cfg))
    return paths


def as_yaml(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def check_outcome(answer: dict, out: Path) -> str:
    """The contract, for one command line; returns ``"ran"`` or ``"refused"``."""
    argv = " ".join(answer["argv"])
    assert "uncaught" not in answer, f"{argv}\n{answer['uncaught']}"
    assert "Traceback" not in answer["stderr"], f"{argv}\n{answer['stderr']}"
    if answer["code"] == 0:
        assert (out / "results.json").is_file(), argv
        return "ran"
    assert answer["code"] == 2, f"{argv}: exit {answer['code']}\n{answer['stderr']}"
    lines = [line for line in answer["stderr"].splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, f"{argv}: expected one error line\n{answer['stderr']}"
    others = [line for line in lines if not line.startswith(("error: ", "warning: "))]
    assert not others, f"{argv}: stray stderr lines {others}"
    assert not (out / "results.json").exists(), f"{argv}: results.json after an error"
    return "refused"


def run_override(worker, configs, tmp_path, command: str, items: list[str], n: int) -> str:
    out = tmp_path / f"run{n}"
    argv = [command, "--config", str(configs[command]), "--out", str(out)]
    for item in items:
        argv += ["--set", item]
    if not any(item.startswith("step_limit=") for item in items):
        argv += ["--set", f"step_limit={BASE[command]['step_limit']}"]
    return check_outcome(worker.run(argv), out)


@pytest.mark.parametrize("command", ["online", "bads"])
def test_every_key_with_hostile_values(worker, configs, tmp_path, command):
    outcomes = {"ran": 0, "refused": 0}
    n = 0
    for key in KEYS[command]:
        for value in HOSTILE:
            n += 1
            item = f"{key}={as_yaml(value)}"
            outcomes[run_override(worker, configs, tmp_path, command, [item], n)] += 1
    assert outcomes["refused"] > outcomes["ran"] > 0, outcomes


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**15), 10**15),
    st.integers(-3, 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0, 1),
    st.text(max_size=12),
    st.sampled_from(["auto", "cpu", "sgld", "gibbs", "bayesian", "npz", "mlp", "acc"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
raw_text = st.text(alphabet="[]{}:,'\"-.e0123456789 abnul", max_size=12)


@pytest.mark.parametrize("command", ["online", "bads"])
@seed(20261123)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_random_overrides(worker, configs, tmp_path_factory, command, data):
    items = []
    for i in range(data.draw(st.integers(1, 3), label="how many")):
        key = data.draw(st.sampled_from(KEYS[command]), label=f"key {i}")
        if data.draw(st.booleans(), label="raw text"):
            items.append(f"{key}={data.draw(raw_text, label='text')}")
        else:
            items.append(f"{key}={as_yaml(data.draw(values, label='value'))}")
    tmp = tmp_path_factory.mktemp("fuzz")
    run_override(worker, configs, tmp, command, items, 0)
