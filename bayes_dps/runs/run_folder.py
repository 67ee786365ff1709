"""The output folder of one experiment: made writable up front, locked against a second run,
and tied to one config.

``RUN_DIR/run.json`` records the command, the config and its fingerprint when a run starts.
``--resume`` compares them: a different fingerprint is refused with the keys that differ;
finished per-seed records and checkpoints carry the fingerprint too and are checked when
reused. ``RUN_DIR/.lock`` is held (``flock``) while a run writes, so a second run into the same
folder stops at once instead of overwriting the first one's files.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bayes_dps.errors import ConfigError
from bayes_dps.io import atomic_write_json
from bayes_dps.runs.fingerprint import config_diff, config_fingerprint

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


class RunFolder:
    """``with RunFolder(out, cfg, "online", resume) as folder: ...``.

    On entry: the folder is created (or must be a writable directory), locked, and
    ``run.json`` written (fresh run) or checked (``resume``). ``log`` receives one line when a
    resume finds nothing to resume."""

    def __init__(
        self,
        out: str | Path,
        cfg: dict[str, Any],
        command: str,
        resume: bool,
        log=print,
        runtime: dict[str, Any] | None = None,
    ) -> None:
        self.out, self.cfg, self.command, self.resume, self.log = (
            Path(out),
            cfg,
            command,
            resume,
            log,
        )
        self.runtime = runtime or {}
        self.fingerprint = config_fingerprint(cfg, self.runtime)
        self._lock_fd: int | None = None

    # ------------------------------------------------------------------ entry
    def __enter__(self) -> RunFolder:
        self._make_writable()
        self._lock()
        try:
            self._check_or_record()
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._unlock()

    def _make_writable(self) -> None:
        out = self.out
        check_writable(out)
        try:
            out.mkdir(parents=True, exist_ok=True)
            probe = out / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as err:
            raise ConfigError(f"cannot write into --out {out}: {_reason(err)}") from err

    def _lock(self) -> None:
        self._lock_fd = lock(self.out)

    def _unlock(self) -> None:
        unlock(self._lock_fd)
        self._lock_fd = None

    def _check_or_record(self) -> None:
        path = self.out / "run.json"
        if self.resume and path.is_file():
            try:
                old = json.loads(path.read_text())
                old_cfg, old_fp, old_cmd = old["config"], old["fingerprint"], old["command"]
            except (ValueError, KeyError, TypeError) as err:
                raise ConfigError(
                    f"{path} is unreadable ({err}); it records which config the folder's runs "
                    "used — delete the folder's runs to start afresh, or choose another --out"
                ) from err
            if old_cmd != self.command:
                raise ConfigError(
                    f"{self.out} holds a `bayes-dps {old_cmd}` run; it cannot be resumed with "
                    f"`bayes-dps {self.command}`"
                )
            if old_fp != self.fingerprint:
                diff = config_diff(old_cfg, self.cfg, old.get("runtime"), self.runtime)
                raise ConfigError(
                    f"--resume: {self.out} was run with a different config ("
                    + "; ".join(diff[:6])
                    + ("; …" if len(diff) > 6 else "")
                    + "); resume with the same settings, or write into another --out"
                )
            return
        if self.resume:
            self.log(f"--resume: nothing to resume in {self.out}, starting fresh")
        elif path.is_file() and any((self.out / "runs").glob("*/seed*.json")):
            raise ConfigError(
                f"{self.out} already holds finished runs; continue them with --resume, or "
                "choose another --out"
            )
        atomic_write_json(
            path,
            {
                "command": self.command,
                "fingerprint": self.fingerprint,
                "config": self.cfg,
                "runtime": self.runtime,
            },
        )


def check_writable(out: Path) -> None:
    """Refuse an ``--out`` that is a file, or whose nearest existing folder cannot be written,
    without creating anything (checked before the data load, so a bad ``--out`` fails fast)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is an existing file, not a folder; choose a folder")
    existing = next((p for p in (out, *out.absolute().parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise ConfigError(f"--out {out}: {existing} is not a folder; choose another --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write into --out {out}: {existing} is not writable")


def lock(folder: Path) -> int | None:
    """Take ``folder/.lock`` (``flock``, not waiting); a second run gets a clear error."""
    if fcntl is None:  # pragma: no cover
        return None
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EAGAIN, errno.EACCES):
            raise ConfigError(
                f"another bayes-dps run is writing into {folder}; wait for it to finish or "
                "choose another --out"
            ) from err
        raise
    return fd


def unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock for a block (the folder is created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = lock(folder)
    try:
        yield
    finally:
        unlock(fd)


def _reason(err: OSError) -> str:
    if err.errno == errno.ENOSPC:
        return "no space left on the device"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied (read-only folder?)"
    return err.strerror or str(err)
