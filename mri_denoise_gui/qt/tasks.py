"""One runner for the window's background jobs (load a file, add noise, metrics, export).

Latest wins per job name: running a job cancels the older one of the same name and drops its
outcome, so callers keep no request counters. Results, failures and progress come back to
the GUI thread as queued signals. `synchronous=True` runs jobs in place (tests). Model calls
do not come here: TensorFlow stays in its one inference thread (`qt.inference_worker`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from PyQt6.QtCore import QObject, pyqtSignal

from mri_denoise_gui.qt.inference_worker import describe_error
from mri_denoise_gui.viewer.jobs import JobState


@dataclass
class _Job:
    serial: int
    state: JobState
    on_done: Callable[[Any], None] | None
    on_failed: Callable[[str, str], None] | None
    on_progress: Callable[[int], None] | None


class JobRunner(QObject):
    """Runs `fn(state)` in a daemon thread; only the newest job of a name reports back."""

    finished = pyqtSignal(str, object)  # name, result
    failed = pyqtSignal(str, str, str)  # name, reason, details
    progress = pyqtSignal(str, int)  # name, percent
    _done = pyqtSignal(str, int, object)  # from the job's thread: name, serial, result
    _error = pyqtSignal(str, int, str, str)
    _percent = pyqtSignal(str, int, int)

    def __init__(self, parent: QObject | None = None, synchronous: bool = False):
        super().__init__(parent)
        self.synchronous = synchronous
        self._serial = 0
        self._latest: dict[str, _Job] = {}
        self._threads: set[threading.Thread] = set()
        self._done.connect(self._deliver)
        self._error.connect(self._deliver_error)
        self._percent.connect(self._deliver_progress)

    def run(self, name: str, fn: Callable[[JobState], Any], on_done: Callable[[Any], None] | None = None,
            on_failed: Callable[[str, str], None] | None = None,
            on_progress: Callable[[int], None] | None = None) -> JobState:
        self.cancel(name)
        self._serial += 1
        serial = self._serial
        state = JobState(lambda percent: self._emit(self._percent, name, serial, percent))
        self._latest[name] = _Job(serial, state, on_done, on_failed, on_progress)
        if self.synchronous:
            self._execute(name, serial, fn, state)
        else:
            thread = threading.Thread(target=self._execute, args=(name, serial, fn, state), daemon=True,
                                      name=f"mri-denoise-{name}")
            self._threads.add(thread)
            thread.start()
        return state

    def cancel(self, name: str) -> bool:
        """Ask the job to stop and drop whatever it still reports; True when one was running."""
        job = self._latest.pop(name, None)
        if job is not None:
            job.state.cancel.set()
        return job is not None

    def cancel_all(self) -> None:
        for name in list(self._latest):
            self.cancel(name)

    def is_running(self, name: str) -> bool:
        return name in self._latest

    @property
    def busy(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def join(self, timeout: float = 30.0) -> None:
        for thread in list(self._threads):
            thread.join(timeout)

    # -- internals ----------------------------------------------------------------------------
    def _emit(self, signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the runner (its window) is already gone
            pass

    def _execute(self, name: str, serial: int, fn, state: JobState) -> None:
        try:
            result = fn(state)
        except Exception as exc:
            self._emit(self._error, name, serial, *describe_error(exc))
        else:
            self._emit(self._done, name, serial, result)
        finally:
            self._threads.discard(threading.current_thread())

    def _take(self, name: str, serial: int) -> _Job | None:
        job = self._latest.get(name)
        if job is None or job.serial != serial:
            return None  # superseded by a newer job of this name, or cancelled
        del self._latest[name]
        return job

    def _deliver(self, name: str, serial: int, result: object) -> None:
        job = self._take(name, serial)
        if job is None:
            return
        try:  # a failing result handler is reported like a failing job
            if job.on_done is not None:
                job.on_done(result)
        except Exception as exc:
            self._report_failure(name, job, *describe_error(exc))
            return
        self.finished.emit(name, result)

    def _deliver_error(self, name: str, serial: int, reason: str, details: str) -> None:
        job = self._take(name, serial)
        if job is not None:
            self._report_failure(name, job, reason, details)

    def _report_failure(self, name: str, job: _Job, reason: str, details: str) -> None:
        if job.on_failed is not None:
            job.on_failed(reason, details)
        self.failed.emit(name, reason, details)

    def _deliver_progress(self, name: str, serial: int, percent: int) -> None:
        job = self._latest.get(name)
        if job is not None and job.serial == serial:
            if job.on_progress is not None:
                job.on_progress(percent)
            self.progress.emit(name, percent)
