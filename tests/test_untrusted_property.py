"""Property-based checks of the contract for files a user brings: for any ``.npz`` data file,
YAML config or JSONL instruction file, the outcome is success, or the package's own error —
through the command line: exit status 2 with one ``error:`` line, no traceback, no run folder
left. Seeded, so a failure reproduces; ``BAYES_DPS_FUZZ_EXAMPLES`` runs more examples."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import yaml
from helpers import FAST
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from bayes_dps.cli import main
from bayes_dps.config import load_config
from bayes_dps.data.instructions import load_instruction_file
from bayes_dps.errors import BayesDPSError

EXAMPLES = int(os.environ.get("BAYES_DPS_FUZZ_EXAMPLES", "40"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
)

# ------------------------------------------------------------------ .npz data files
DTYPES = ["float32", "float64", "int64", "uint8", "uint64", "int8", "bool", "complex64", "<U3"]
FIELDS = ["x_train", "y_train", "x_test", "y_test", "x_meta", "y_meta", "num_classes", "classes"]
VALUES = st.sampled_from([0, 1, 2, -1, 3, 255, 0.5, np.nan, np.inf, -np.inf, 2**40])


@st.composite
def arrays(draw):
    dtype = draw(st.sampled_from(DTYPES))
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=4)))
    fill = draw(st.lists(VALUES, min_size=1, max_size=4))
    size = int(np.prod(shape)) if shape else 1
    flat = np.resize(np.array(fill, dtype=object), size)
    with np.errstate(all="ignore"):
        try:
            return np.array(flat.tolist(), dtype=dtype).reshape(shape)
        except (ValueError, OverflowError, TypeError):
            return np.zeros(shape, dtype=dtype)


def plausible(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    x = {p: rng.normal(size=(m, 3)).astype(np.float32) for p, m in (("train", n), ("test", 6),
                                                                  ("meta", 4))}  # fmt: skip
    return {**{f"x_{p}": v for p, v in x.items()},
            **{f"y_{p}": np.arange(len(v)) % 2 for p, v in x.items()}}  # fmt: skip


@seed(40)
@SETTINGS
@given(
    replaced=st.dictionaries(st.sampled_from(FIELDS), arrays(), max_size=2),
    dropped=st.lists(st.sampled_from(FIELDS), max_size=1).filter(lambda d: len(d) == 0 or d[0]),
    n=st.integers(0, 12),
    keep_all=st.booleans(),
)
def test_any_npz_file_runs_or_ends_in_one_error_line(replaced, dropped, n, keep_all):
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "data.npz", Path(tmp) / "out"
        data = {**plausible(n, np.random.default_rng(0)), **replaced}
        dropped = [] if keep_all else dropped  # half the files have every field
        np.savez(path, **{k: v for k, v in data.items() if k not in dropped})
        argv = ["online", "--config", "digits_noisy", *FAST, "--out", str(out), "--set",
                "dataset.name=npz", f"dataset.path={path}", "dataset.noise=0",
                "dataset.meta_per_class=0", "methods=[uniform]", "seeds=[0]", "epochs=1",
                "n_B=4", "n_b=2", "step_limit=1", "model_options={}"]  # fmt: skip
        rc, err = _run(argv)
        if rc == 0:
            assert (out / "results.json").is_file()
        else:
            assert rc == 2 and len(err) == 1 and err[0].startswith("error: "), err
            assert not (out / "run.json").exists() and not (out / ".lock").exists()


def _run(argv: list[str]) -> tuple[int, list[str]]:
    import contextlib
    import io

    buf, sink = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(buf), contextlib.redirect_stdout(sink):
        rc = main(argv)
    return rc, [line for line in buf.getvalue().splitlines() if line.strip()]


# ------------------------------------------------------------------ YAML configs
KEYS = st.sampled_from(["epochs", "seeds", "methods", "dataset", "noise", "base", "n_B", "model",
                        "optimizer", "lr", "zero_shot", "sweep", "x", "root:*:1:0"])  # fmt: skip
WORDS = st.sampled_from(["digits_noisy", "a.yaml", "[", "*"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), WORDS)  # fmt: skip
TREES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=12,
)


@seed(41)
@SETTINGS
@given(
    tree=st.dictionaries(KEYS, TREES, max_size=5), raw=st.text(max_size=80), use_raw=st.booleans()
)
def test_any_yaml_config_loads_or_raises_the_packages_own_error(tree, raw, use_raw):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_text(raw if use_raw else yaml.safe_dump(tree, allow_unicode=True))
        try:
            cfg = load_config(path, [], "online")
        except BayesDPSError as err:
            assert "Traceback" not in str(err)
        else:
            assert isinstance(cfg, dict) and cfg["epochs"] >= 1


# ------------------------------------------------------------------ JSONL instruction files
FIELD_VALUES = st.one_of(st.text(max_size=10), st.integers(), st.floats(allow_nan=True),
                         st.none(), st.lists(st.integers(), max_size=2), st.booleans())  # fmt: skip
RECORDS = st.dictionaries(st.sampled_from(["instruction", "input", "output", "messages", "x"]),
                          FIELD_VALUES, max_size=4)  # fmt: skip


@seed(42)
@SETTINGS
@given(
    lines=st.lists(st.one_of(RECORDS.map(lambda r: __import__("json").dumps(r)),
                             st.text(max_size=30), st.just("[[[[[[[[")), max_size=5),
)  # fmt: skip
def test_any_jsonl_file_loads_or_raises_the_packages_own_error(lines):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tasks.jsonl"
        path.write_text("\n".join(lines), encoding="utf-8")
        try:
            examples = load_instruction_file(path)
        except BayesDPSError:
            return
        assert all(isinstance(e.prompt, str) and isinstance(e.response, str) for e in examples)
