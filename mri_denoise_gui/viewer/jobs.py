"""What a background job is handed (Orange's task state): a cancel flag and a progress report.

Qt-free, so the computations that take it (`viewer.compute`, `viewer.state`) stay plain
functions; `qt.tasks.JobRunner` runs them and brings results back to the GUI thread.
"""

from __future__ import annotations

import threading
from typing import Callable


class PercentThrottle:
    """Calls `report(percent)` only when the whole percentage changes: at most 101 calls a job."""

    def __init__(self, report: Callable[[int], None]):
        self._report = report
        self._last = -1

    def __call__(self, done: int, total: int) -> bool:
        percent = min(100, max(0, int(100 * done / max(total, 1))))
        if percent == self._last:
            return False
        self._last = percent
        self._report(percent)
        return True


class JobState:
    """Handed to a job function: `cancel` (a threading.Event to poll or pass on) and `set_progress`."""

    def __init__(self, report: Callable[[int], None] = lambda percent: None):
        self.cancel = threading.Event()
        self.set_progress = PercentThrottle(report)

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()
