"""The output folder of one experiment: made writable up front, locked against a second run,
and tied to one config.

``RUN_DIR/run.json`` records the command, the config and its fingerprint when a run starts.
``--resume`` compares them: a different config — its fingerprint, or the methods and seeds it
lists — is refused with the keys that differ and the ``--set`` options that restore them;
``--resume --extend`` lets the methods and seeds differ (the finished records are reused and
``run.json`` records the new lists). Finished per-seed records and checkpoints carry the
fingerprint too and are checked when reused. ``RUN_DIR/.lock`` is held (``flock``) while a run writes, so a second run into the same
folder stops at once instead of overwriting the first one's files.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bayes_dps.errors import BayesDPSError, ConfigError
from bayes_dps.io import atomic_write_json
from bayes_dps.runs.fingerprint import RUN_LIST_KEYS, config_fingerprint, resume_diff

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


class RunFolder:
    """``with RunFolder(out, cfg, "online", resume) as folder: ...``.

    On entry: the folder is created (or must be a writable directory), locked, and
    ``run.json`` written (fresh run) or checked (``resume``; ``extend`` lets the methods and
    seeds differ). ``log`` receives one line when a resume finds nothing to resume."""

    def __init__(
        self,
        out: str | Path,
        cfg: dict[str, Any],
        command: str,
        resume: bool,
        log=print,
        runtime: dict[str, Any] | None = None,
        extend: bool = False,
    ) -> None:
        self.out, self.cfg, self.command, self.resume, self.log = (
            Path(out),
            cfg,
            command,
            resume,
            log,
        )
        self.runtime = runtime or {}
        self.extend = extend
        self.fingerprint = config_fingerprint(cfg, self.runtime)
        self._lock_fd: int | None = None
        self._recorded = False  # whether this run wrote a fresh run.json
        self._existed = True

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

    def __exit__(self, kind: type | None, err: object, tb: object) -> None:
        self._unlock()
        if isinstance(err, BayesDPSError) and self._recorded and not holds_finished_work(self.out):
            self._withdraw()  # bad input found late (a file read by the run): leave no trace

    def _withdraw(self) -> None:
        """Remove what this run's start wrote (``run.json``, the lock) and the folder itself
        when it made it and nothing else is in it."""
        for name in ("run.json", ".lock"):
            (self.out / name).unlink(missing_ok=True)
        for folder in ("runs", "checkpoints"):
            with contextlib.suppress(OSError):  # only if empty
                for sub in (self.out / folder).glob("*"):
                    sub.rmdir()
                (self.out / folder).rmdir()
        if not self._existed:
            with contextlib.suppress(OSError):
                self.out.rmdir()

    def _make_writable(self) -> None:
        out = self.out
        self._existed = out.exists()
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
            old_runtime = old.get("runtime")
            diff = resume_diff(old_cfg, self.cfg, old_runtime, self.runtime, extend=self.extend)
            if old_fp != self.fingerprint or diff:
                raise ConfigError(
                    f"--resume: {self.out} was run with a different config ("
                    + "; ".join(diff[:6])
                    + ("; …" if len(diff) > 6 else "")
                    + f"); resume with the settings it was started with{_restore(old_cfg, diff)}"
                    + (
                        ", or add --extend to run other methods or seeds beside the finished ones"
                        if all(d.split(":")[0] in RUN_LIST_KEYS for d in diff)
                        else ""
                    )
                    + ", or write into another --out"
                )
            if self.extend and any(old_cfg.get(k) != self.cfg.get(k) for k in RUN_LIST_KEYS):
                self._record()  # the widened run is what a later --resume continues
            return
        if self.resume:
            self.log(f"--resume: nothing to resume in {self.out}, starting fresh")
        elif path.is_file() and any((self.out / "runs").glob("*/seed*.json")):
            raise ConfigError(
                f"{self.out} already holds finished runs; continue them with --resume, or "
                "choose another --out"
            )
        self._record()
        self._recorded = True

    def _record(self) -> None:
        atomic_write_json(
            self.out / "run.json",
            {
                "command": self.command,
                "fingerprint": self.fingerprint,
                "config": self.cfg,
                "runtime": self.runtime,
            },
        )


def _restore(old_cfg: dict[str, Any], diff: list[str]) -> str:
    """`` (--set "methods=[...]" ...)``: the ``--set`` options that give back the stored run's
    values of the differing config keys (empty when only the runtime differs)."""
    items = []
    for line in diff:
        key = line.split(":")[0]
        if key.startswith("runtime."):
            continue
        value: Any = old_cfg
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        items.append(shlex.quote(f"{key}={json.dumps(value)}"))
    return f" (--set {' '.join(items)})" if items else ""


def holds_finished_work(folder: Path) -> bool:
    """Whether ``folder`` holds a finished seed record or a checkpoint, its own or (a sweep)
    a point's."""
    return any(
        any(folder.glob(pattern))
        for pattern in ("runs/*/seed*.json", "checkpoints/*.pt", "*/runs/*/seed*.json",
                        "*/checkpoints/*.pt")
    )  # fmt: skip


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
