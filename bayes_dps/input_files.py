"""Reading files a run did not write — configs' and data's files, cached zero-shot logits,
model and CLIP checkpoints, a user's state dict — as untrusted input.

:func:`check_input_file` is the one check that a given path is a regular file that can be
opened (not missing, a folder, a device or pipe, or a symbolic-link loop). One place runs
``torch.load`` on such files, always with ``weights_only=True`` (tensors, numbers, strings and
containers; nothing that runs code), and turns every way it can fail into a
:class:`~bayes_dps.errors.DataError` that names the file, what is wrong with it and the fix.
PyTorch's own advice on a refused file ("re-running with ``weights_only=False`` will likely
succeed") is the one thing a user must not do with a file from elsewhere, so it never reaches
them. (The run's own checkpoints, verified against their content hash, are read by
:mod:`bayes_dps.training.checkpoint`.)
"""

from __future__ import annotations

import errno
import pickle
import stat
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from bayes_dps.errors import BayesDPSError, DataError, DatasetNotFoundError


def check_input_file(
    path: Path, what: str, fix: str, error: type[BayesDPSError] | None = None
) -> Path:
    """``path`` as a regular file that can be opened, or an error saying what it is instead
    (missing, a folder, a device or pipe, a symbolic-link loop, unreadable): ``error`` when
    given, else :class:`DatasetNotFoundError` for a missing file and :class:`DataError` for
    the rest."""
    fail = error or DataError
    try:
        info = path.stat()
    except FileNotFoundError:
        raise (error or DatasetNotFoundError)(f"{what} {path} does not exist; {fix}") from None
    except OSError as err:
        why = "is a symbolic-link loop" if err.errno == errno.ELOOP else f"cannot be read ({err})"
        raise fail(f"{what} {path} {why}; {fix}") from err
    if stat.S_ISDIR(info.st_mode):
        raise fail(f"{what} {path} is a folder, not a file; {fix}")
    if not stat.S_ISREG(info.st_mode):
        raise fail(f"{what} {path} is not a regular file (a device or a pipe?); {fix}")
    return path


def _reason(err: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in words a user can act on."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    blocked = [line for line in lines if "GLOBAL" in line]
    if blocked:  # a pickled object beyond tensors and containers: it could run code
        name = blocked[0].split("GLOBAL", 1)[1].split()[0]
        return (
            f"it holds a Python object ({name[:60]}) beyond tensors, numbers, strings and "
            "containers, which could run code — it is refused unread"
        )
    return "it is not a PyTorch tensor file (damaged, truncated or another format)"


def read_tensor_file(path: str | Path, what: str, fix: str) -> Any:
    """What ``torch.save`` stored in ``path``, read with ``weights_only=True`` onto the CPU.

    Args:
        path: the file (``~`` is expanded).
        what: what the file is for, as the error names it (``"logit cache"``).
        fix: what the user should do, the end of every error (``"delete it (it is
            recomputed)"``)."""
    path = check_input_file(Path(path).expanduser(), what, fix)
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols are not ours
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise
    except (
        pickle.UnpicklingError, EOFError, RuntimeError, ValueError, KeyError, IndexError,
        AttributeError, TypeError, UnicodeDecodeError, zipfile.BadZipFile, OSError,
    ) as err:  # fmt: skip
        raise DataError(f"{what} {path} cannot be used: {_reason(err)}; {fix}") from None


def read_state_dict(path: str | Path, what: str, fix: str) -> dict[str, torch.Tensor]:
    """A state dict (parameter names → tensors) from ``path``; a checkpoint that wraps one
    under ``"state_dict"`` (as Lightning and many training scripts save) is unwrapped."""
    state = read_tensor_file(path, what, fix)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        kind = type(state).__name__ if not isinstance(state, dict) else "mapping of other values"
        raise DataError(
            f"{what} {Path(path).expanduser()} holds a {kind}, not a state dict (parameter "
            f"names → tensors, as `torch.save(model.state_dict(), path)` writes); {fix}"
        )
    return state
