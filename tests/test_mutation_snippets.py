"""The mutation script stays in step with the code: every snippet it plants a bug in occurs
exactly once in its file (a refactor that moves a line must update the mutation, or the
script would stop at it — or, worse, test nothing)."""

from __future__ import annotations

import importlib.util
import sys

import pytest
from helpers import ROOT


def _mutations():
    spec = importlib.util.spec_from_file_location(
        "run_mutations", ROOT / "tests" / "mutations" / "run_mutations.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_mutations"] = module
    spec.loader.exec_module(module)
    return module.MUTATIONS


MUTATIONS = _mutations()


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_snippet_occurs_once_and_its_tests_exist(mutation):
    text = (ROOT / mutation.file).read_text()
    assert text.count(mutation.old) == 1, f"{mutation.name}: snippet not found once"
    assert mutation.new != mutation.old
    for test in mutation.tests:
        assert (ROOT / test.split("::")[0]).is_file(), test
