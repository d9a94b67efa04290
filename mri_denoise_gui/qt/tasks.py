"""Short background jobs (load a file, add noise to a big volume, whole-volume metrics, export).

Why not the inference worker: these use numpy / nibabel / scikit-image only, and must not
wait behind a model call. Each job is a plain function run in a daemon thread; its result
or failure comes back to the GUI thread as a queued signal. Results of jobs superseded by a
newer one of the same name are dropped by the caller (via the token passed to `done`).
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from PyQt6.QtCore import QObject, pyqtSignal

from mri_denoise_gui.qt.inference_worker import describe_error


class Task(QObject):
    """One background call; emits `done(result)` or `failed(reason, details)` on the GUI thread."""

    done = pyqtSignal(object)
    failed = pyqtSignal(str, str)

    def __init__(self, fn: Callable[[], Any], parent: QObject | None = None):
        super().__init__(parent)
        self._fn = fn
        self.thread = threading.Thread(target=self._run, daemon=True, name="mri-denoise-task")

    def start(self) -> "Task":
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:
            reason, details = describe_error(exc)
            try:
                self.failed.emit(reason, details)
            except RuntimeError:  # window already gone
                pass
            return
        try:
            self.done.emit(result)
        except RuntimeError:
            pass


class TaskRunner(QObject):
    """Keeps running tasks alive and lets the window wait for them (tests, close)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._tasks: set[Task] = set()

    def run(self, fn: Callable[[], Any], on_done: Callable[[Any], None],
            on_failed: Callable[[str, str], None]) -> Task:
        task = Task(fn, self)

        def deliver(result):  # a failing result handler is reported like a failing job
            try:
                on_done(result)
            except Exception as exc:
                on_failed(*describe_error(exc))

        task.done.connect(deliver)
        task.failed.connect(on_failed)
        task.done.connect(lambda *_: self._tasks.discard(task))
        task.failed.connect(lambda *_: self._tasks.discard(task))
        self._tasks.add(task)
        return task.start()

    @property
    def busy(self) -> bool:
        return any(t.thread.is_alive() for t in self._tasks)

    def join(self, timeout: float = 30.0) -> None:
        for task in list(self._tasks):
            task.thread.join(timeout)
