"""Progress over a run's training steps, in a terminal and in a log.

In a terminal, a tqdm bar over the steps, with the step rate, the time left and the last test
metrics. Anywhere else (output piped to a file, a scheduler's log) a bar cannot redraw, so one
line is printed at most every ``every_seconds`` (a minute by default) and when a run that
lasted longer than that ends::

    bads_weightnet seed 0: step 40/120 (33%), 7.52 s/step, about 10 min left; test bleu 2.310

Counting is on the host (a counter and a clock read per step): no device synchronisation, so a
GPU run keeps its asynchronous steps, and the rate a line shows is the host's pace.

An epoch step reports each training step through the hook of :class:`StepHook`; the trainer
points it at its :class:`StepProgress`. An epoch step without the hook is counted at the end
of each of its epochs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Any

from tqdm.auto import tqdm

#: seconds between two progress lines when the output is not a terminal
LINE_EVERY_SECONDS = 60.0


def no_step() -> None:
    """The hook of an epoch step that no progress display watches."""


class StepHook:
    """Mixin of an epoch step that reports each training step: call ``self.on_step()`` after
    every step, and say how many steps an epoch has in ``steps_per_epoch``."""

    on_step: Callable[[], None] = staticmethod(no_step)
    steps_per_epoch: int | None = None


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class StepProgress:
    """Progress of ``total`` steps, ``done`` of them already (a resumed run).

    Args:
        total: steps of the whole run.
        done: steps finished before this process started counting.
        desc: the run's label (``"bads seed 0"``).
        enabled: ``False`` shows nothing (``--quiet``, processes other than rank 0).
        stream: where to write (standard error by default).
        terminal: whether ``stream`` is a terminal (default: ask it).
        every_seconds: the least time between two lines when it is not a terminal (default
            :data:`LINE_EVERY_SECONDS`).
        clock: seconds, monotonic (a test passes its own).
    """

    def __init__(
        self,
        total: int,
        *,
        done: int = 0,
        desc: str = "",
        unit: str = "step",
        enabled: bool = True,
        stream: IO[str] | None = None,
        terminal: bool | None = None,
        every_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.done, self.desc, self.unit = total, done, desc, unit
        self.stream = stream if stream is not None else sys.stderr
        if terminal is None:
            terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled, self.terminal = enabled, terminal
        self.every_seconds = LINE_EVERY_SECONDS if every_seconds is None else every_seconds
        self.clock = clock
        self.metrics: dict[str, float] = {}
        self._first_done, self._start = done, clock()
        self._last_line = self._start
        self.bar = None
        if enabled and terminal:
            self.bar = tqdm(
                total=total, initial=done, desc=desc, unit=unit, leave=False, file=self.stream
            )

    def advance(self, n: int = 1) -> None:
        """``n`` more steps are done."""
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled:
            now = self.clock()
            if now - self._last_line >= self.every_seconds:
                self._line(now)

    def set_metrics(self, metrics: dict[str, Any]) -> None:
        """The latest evaluation, shown beside the count."""
        self.metrics = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in self.metrics.items()}, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and self.clock() - self._start >= self.every_seconds:
            self._line(self.clock())  # a long run's log ends with its last count

    def line(self, now: float | None = None) -> str:
        """``desc: step 40/120 (33%), 7.52 s/step, about 10 min left; test acc 0.912``."""
        now = self.clock() if now is None else now
        counted = self.done - self._first_done
        elapsed = now - self._start
        text = f"{self.desc}: {self.unit} {self.done}/{self.total}"
        if self.total:
            text += f" ({100 * self.done / self.total:.0f}%)"
        if counted > 0:
            per = elapsed / counted
            text += f", {per:.3g} s/{self.unit}"
            left = self.total - self.done
            done = (
                f", about {_duration(per * left)} left" if left > 0 else f", {_duration(elapsed)}"
            )
            text += done
        if self.metrics:
            text += "; test " + ", ".join(f"{k} {v:.3f}" for k, v in self.metrics.items())
        return text

    def _line(self, now: float) -> None:
        self._last_line = now
        print(self.line(now), file=self.stream, flush=True)
