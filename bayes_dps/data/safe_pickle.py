"""Reading data files that come as Python pickles (the CIFAR batches) without running code.

``pickle.load`` calls whatever callable a file names — a rigged ``data_batch_1`` runs code on
load. :func:`load_plain` unpickles with a restricted :class:`pickle.Unpickler` that resolves
only what plain data needs: numpy arrays (their reconstruction function, ``ndarray``,
``dtype``) and ``_codecs.encode`` (how Python 2 pickles carry byte strings); dicts, lists,
strings and numbers need no lookup. Anything else a file names is refused, with the name.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from bayes_dps.errors import DataError

#: the only globals a plain data pickle may name
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class ForbiddenGlobal(pickle.UnpicklingError):
    """The file names a global outside :data:`ALLOWED`."""


class PlainUnpickler(pickle.Unpickler):
    """Resolves only the globals in :data:`ALLOWED`."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED:
            return super().find_class(module, name)
        raise ForbiddenGlobal(f"refers to {module}.{name}")


def load_plain(path: str | Path, encoding: str = "latin1") -> Any:
    """The data pickled in ``path`` (numpy arrays, dicts, lists, strings, numbers), or a
    :class:`DataError` naming the file — never code run from it."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return PlainUnpickler(fh, encoding=encoding).load()
    except ForbiddenGlobal as err:
        raise DataError(
            f"{path} {err}, which a data file has no reason to hold: not loaded (a pickle can "
            "run code when loaded); get the file from its official source"
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError) as err:  # fmt: skip
        raise DataError(
            f"{path} is not a readable data pickle ({type(err).__name__}: {str(err)[:80]}); "
            "it may be truncated"
        ) from None
