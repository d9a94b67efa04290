"""The training worker: its own QThread, separate from the inference worker, owns `ml.train`.

Why a separate thread: training runs for minutes and must not block slice denoising in the
main window. Why TensorFlow only here: `ml.train` imports TensorFlow at module level, which
takes seconds, so the worker imports it in `prepare` (in this thread). The dialog validates
configs itself with the TF-free `ml.training_config`; only plain dicts cross the threads.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Callable

from PyQt6.QtCore import QObject, QThread, pyqtSignal, pyqtSlot

from mri_denoise_gui.ml.training_config import TrainingConfig
from mri_denoise_gui.qt.inference_worker import describe_error
from mri_denoise_gui.qt.python_thread import PythonThread

#: At most one batch event per this many seconds reaches the GUI (epoch events always do).
BATCH_EVENT_INTERVAL = 0.1
#: Threads that did not stop in time on shutdown: kept referenced so Qt never destroys a
#: running QThread (which aborts the process); they end with the cancelled run or the process.
_ORPHANED: list = []


class ProgressThrottle:
    """Forwards training events to ``emit``, dropping batch events closer than ``interval`` s.

    Epoch, begin and end events always pass, and so does the last batch of an epoch, so the
    GUI sees every epoch's numbers while a fast network cannot flood the event loop.
    """

    def __init__(self, emit: Callable[[dict], None], interval: float = BATCH_EVENT_INTERVAL,
                 clock: Callable[[], float] = time.monotonic):
        self._emit, self._interval, self._clock = emit, interval, clock
        self._last = -math.inf
        self.sent = 0
        self.dropped = 0

    def __call__(self, event: dict) -> None:
        now = self._clock()
        if event.get("kind") == "batch" and event.get("batch") != event.get("steps"):
            if now - self._last < self._interval:
                self.dropped += 1
                return
        self._last = now
        self.sent += 1
        self._emit(dict(event, time=now))


class _SignalLogHandler(logging.Handler):
    """Sends log records of the ml layer, from the worker thread only, to the dialog's log pane."""

    def __init__(self, emit: Callable[[str], None]):
        super().__init__(logging.INFO)
        self._emit = emit
        self._thread = threading.get_ident()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread:
            try:
                self._emit(self.format(record))
            except RuntimeError:  # the dialog is gone
                pass


def result_to_dict(result) -> dict:
    """`TrainingResult` -> a plain dict that crosses threads safely."""
    return {"folder": str(result.folder) if result.folder else None, "best": dict(result.best or {}),
            "epochs_run": int(result.epochs_run), "cancelled": bool(result.cancelled)}


class TrainingWorker(QObject):
    """Lives in the training thread; every slot runs there and answers only through signals."""

    ready = pyqtSignal(object)  # {"device"}
    prepareFailed = pyqtSignal(str, str)
    planned = pyqtSignal(int, object)  # request id, plan dict (+ "slices", "seconds_per_epoch")
    planFailed = pyqtSignal(int, str, str)
    started = pyqtSignal(object)  # the config dict that is being trained
    progress = pyqtSignal(object)  # throttled event dict from ml.train
    log = pyqtSignal(str)
    finished = pyqtSignal(object)  # result dict (cancelled runs too)
    failed = pyqtSignal(str, str)  # reason, details

    def __init__(self):
        super().__init__()
        self._measure_cache: dict[tuple, float] = {}
        self.runs_done = 0  # incremented in the worker thread when a run has fully ended

    @pyqtSlot()
    def prepare(self) -> None:
        """Import `ml.train` (and so TensorFlow) in this thread, then say which device it trains on."""
        try:
            from mri_denoise_gui.ml import train  # noqa: F401 - TensorFlow is imported here
            from mri_denoise_gui.ml.device import configure_devices
        except Exception as exc:
            self.prepareFailed.emit(*describe_error(exc))
            return
        try:
            device = configure_devices()
        except Exception:
            device = "CPU"
        self.ready.emit({"device": device})

    @pyqtSlot(int, object, bool)
    def plan(self, request_id: int, config_dict: dict, measure: bool) -> None:
        """`ml.training_plan.timed_plan`: the plan, slice counts and, if asked, a measured time per epoch."""
        try:
            from mri_denoise_gui.ml.training_plan import timed_plan

            config = TrainingConfig.from_dict(config_dict)
            self.planned.emit(request_id, timed_plan(config, measure, self._measure_cache))
        except Exception as exc:
            self.planFailed.emit(request_id, *describe_error(exc))

    @pyqtSlot(object, object)
    def train(self, config_dict: dict, cancel: threading.Event) -> None:
        """Do `run` (`ml.train.train`); always ends with `finished` or `failed`, never an exception.

        `runs_done` is counted before the final signal, so when the GUI hears the end the
        worker has really left `train` (what `TrainingController.wait_idle` relies on).
        """
        handler = _SignalLogHandler(self.log.emit)
        ml_log = logging.getLogger("mri_denoise_gui.ml")
        ml_log.addHandler(handler)
        previous_level = ml_log.level
        if ml_log.getEffectiveLevel() > logging.INFO:
            ml_log.setLevel(logging.INFO)
        outcome: tuple[str, Any]
        try:
            if cancel.is_set():  # cancelled before it began: nothing was written
                outcome = ("finished", {"folder": None, "best": {}, "epochs_run": 0, "cancelled": True})
            else:
                throttle = ProgressThrottle(self._emit_progress)
                info = self.run(config_dict, throttle, cancel)
                info["events_sent"], info["events_dropped"] = throttle.sent, throttle.dropped
                outcome = ("finished", info)
        except Exception as exc:
            outcome = ("failed", describe_error(exc))
        finally:
            ml_log.removeHandler(handler)
            ml_log.setLevel(previous_level)
            self.runs_done += 1
        if outcome[0] == "finished":
            self.finished.emit(outcome[1])
        else:
            self.failed.emit(*outcome[1])

    def run(self, config_dict: dict, progress: Callable[[dict], None], cancel: threading.Event) -> dict:
        """The work of one run (here `ml.train.train`); a subclass runs another job the same way."""
        from mri_denoise_gui.ml import train as mltrain

        config = TrainingConfig.from_dict(config_dict)
        self.started.emit(config.to_dict())
        return result_to_dict(mltrain.train(config, progress=progress, cancel=cancel))

    def _emit_progress(self, event: dict) -> None:
        try:
            self.progress.emit(event)
        except RuntimeError:  # the dialog went away mid-run: keep training to a clean stop
            pass


class TrainingController(QObject):
    """GUI-thread handle on the training worker: owns the thread, the cancel event, shutdown.

    The dialog listens to the controller's signals, which relay the current worker's. A
    worker cannot be moved out of a finished thread, so after a shutdown the next
    `ensure_thread` makes a fresh worker in a fresh thread (ml/ stays imported: it is cheap).
    """

    ready = pyqtSignal(object)
    prepareFailed = pyqtSignal(str, str)
    planned = pyqtSignal(int, object)
    planFailed = pyqtSignal(int, str, str)
    started = pyqtSignal(object)
    progress = pyqtSignal(object)
    log = pyqtSignal(str)
    finished = pyqtSignal(object)
    failed = pyqtSignal(str, str)
    RELAYED = ("ready", "prepareFailed", "planned", "planFailed", "started", "progress", "log",
               "finished", "failed")

    _prepare = pyqtSignal()
    _plan = pyqtSignal(int, object, bool)
    _train = pyqtSignal(object, object)

    worker_class = TrainingWorker  # the adaptation dialog's controller runs an AdaptWorker
    thread_name = "trainingThread"

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.worker: TrainingWorker | None = None
        self.thread: QThread | None = None
        self._cancel: threading.Event | None = None
        self._next_id = 0
        self._runs_requested = 0
        self.running = False  # from start() until finished/failed arrives on the GUI thread
        self.finished.connect(self._on_run_ended)
        self.failed.connect(self._on_run_ended)

    def ensure_thread(self) -> None:
        """Start a worker thread if none runs, and let it import `ml.train` (TensorFlow)."""
        if self.thread is not None and self.thread.isRunning():
            return
        for signal in (self._prepare, self._plan, self._train):
            try:
                signal.disconnect()
            except TypeError:  # nothing connected yet
                pass
        self.worker = self.worker_class()
        for name in self.RELAYED:
            getattr(self.worker, name).connect(getattr(self, name))
        self._prepare.connect(self.worker.prepare)
        self._plan.connect(self.worker.plan)
        self._train.connect(self.worker.train)
        self._runs_requested = 0
        self.thread = PythonThread()
        self.thread.setObjectName(self.thread_name)
        self.worker.moveToThread(self.thread)
        self.thread.start()
        self._prepare.emit()

    def request_plan(self, config_dict: dict, measure: bool = True) -> int:
        self.ensure_thread()
        self._next_id += 1
        self._plan.emit(self._next_id, dict(config_dict), bool(measure))
        return self._next_id

    @property
    def latest_plan_id(self) -> int:
        return self._next_id

    def start(self, config_dict: dict) -> None:
        self.ensure_thread()
        self._cancel = threading.Event()
        self.running = True
        self._runs_requested += 1
        self._train.emit(dict(config_dict), self._cancel)

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def _on_run_ended(self, *_args) -> None:
        self.running = False

    def is_training(self) -> bool:
        """GUI-thread view: from `start` until the end of the run has been delivered here."""
        return self.running

    def wait_idle(self, timeout_ms: int) -> bool:
        """Block until every requested run has left the worker (or the timeout passes)."""
        deadline = time.monotonic() + timeout_ms / 1000
        while self.worker is not None and self.worker.runs_done < self._runs_requested:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel any run, stop the thread and wait for it; True if it stopped in time."""
        self.cancel()
        if self.thread is None:
            return True
        self.thread.quit()
        ok = self.thread.wait(timeout_ms)
        if not ok:
            _ORPHANED.append((self.thread, self.worker))
        self.thread = None
        return ok
