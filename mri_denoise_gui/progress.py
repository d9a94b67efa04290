"""Progress bars for the command line, drawn by rich (which Keras 3 already installs).

One bar per command run (files for batch denoising, slices for one file, steps for training,
scores for evaluate) with the count, the rate and the time left. On anything that is not a
terminal (a pipe, a log file, a test's captured stderr) the bar is silent and only the plain
lines printed through ``CommandProgress.line`` appear, unwrapped and without colour codes.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)


class CommandProgress:
    """A context manager holding one rich task: ``advance(n)``, ``update(done)``, ``line(text)``."""

    def __init__(self, label: str, total: int, unit: str, enabled: bool = True):
        self.console = Console(stderr=True)
        self.live = bool(enabled) and self.console.is_terminal
        self.unit = unit
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn(unit), TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("elapsed,"), TimeRemainingColumn(),
            TextColumn("left"),
            console=self.console, disable=not self.live, transient=False,
        )
        self._task = self._progress.add_task(label, total=max(int(total), 0), rate="")

    def __enter__(self) -> "CommandProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def _rate(self) -> str:
        speed = self._progress.tasks[0].speed
        return f"{speed:.2f} {self.unit}/s" if speed else ""

    def advance(self, n: int = 1) -> None:
        self._progress.advance(self._task, n)
        self._progress.update(self._task, rate=self._rate())

    def update(self, done: int, total: int | None = None) -> None:
        """Set the count (and the total, when it changes); usable as a ``progress(done, total)`` hook."""
        self._progress.update(self._task, completed=done, **({"total": total} if total is not None else {}))
        self._progress.update(self._task, rate=self._rate())

    __call__ = update

    def line(self, text: str) -> None:
        """A log line above the bar (or plain on stderr when there is no bar)."""
        if self.live:
            self._progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=sys.stderr, flush=True)
