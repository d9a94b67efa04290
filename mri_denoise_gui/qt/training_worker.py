"""The training worker: its own QThread, separate from the inference worker, owns `ml.train`.

Why a separate thread: training runs for minutes and must not block slice denoising in the
main window. Why TensorFlow only here: `ml.train` imports TensorFlow at module level, which
takes seconds, so the worker imports it in `prepare` (in this thread) and hands the
`TrainingConfig` class back; the dialog then validates configs on the GUI thread with that
pure-Python class without ever being the thread that imports TensorFlow.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Callable

from PyQt6.QtCore import QObject, QThread, pyqtSignal, pyqtSlot

from mri_denoise_gui.qt.inference_worker import describe_error
from mri_denoise_gui.qt.python_thread import PythonThread

#: At most one batch event per this many seconds reaches the GUI (epoch events always do).
BATCH_EVENT_INTERVAL = 0.1
#: Train steps timed (after one warm-up step) to estimate the time per epoch.
MEASURE_STEPS = 3
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


def slice_counts(config: Any, plan: dict) -> dict:
    """Slices per split from the NIfTI headers (no voxel data read): what `plan` leaves out."""
    import nibabel as nib

    from mri_denoise_gui.ml import data as mldata

    axes = (0, 1, 2) if getattr(config, "all_axes", False) else (2,)
    fraction = float(getattr(config, "central_fraction", 1.0))

    def count(shape) -> int:
        return sum(len(mldata.central_indices(int(shape[a]), fraction)) for a in axes)

    if getattr(config, "synthetic", False):  # MNI152 slabs: ml.train.plan counted them
        return {side: int(plan[side].get("slices", 0)) for side in ("train", "validation")}
    out = {"train": 0, "validation": 0}
    if plan.get("split") == "slab":
        shape = nib.load(plan["train"]["files"][0]).shape[:3]
        (a, b), (c, d) = mldata.slab_ranges(int(shape[2]), float(config.val_fraction))
        out["train"] = count((shape[0], shape[1], b - a))
        out["validation"] = count((shape[0], shape[1], d - c))
        return out
    for side in ("train", "validation"):
        for f in plan[side].get("files", []):
            out[side] += count(nib.load(f).shape[:3])
    return out


def measure_seconds_per_step(config: Any, steps: int = MEASURE_STEPS) -> float:
    """Seconds for one training step of ``config``'s network, loss, batch and patch size.

    A real (tiny) measurement on random patches: one warm-up step for tracing, then ``steps``
    timed ones. Runs in the worker thread; it needs TensorFlow.
    """
    import keras
    import numpy as np

    from mri_denoise_gui.ml import architectures
    from mri_denoise_gui.ml.losses import get_loss

    if getattr(config, "init_from", None):
        from mri_denoise_gui.ml.modelfile import read_model_json

        meta = read_model_json(config.init_from)
        model = architectures.build(meta["architecture"], **(meta.get("architecture_options") or {}))
    else:
        model = architectures.build(config.arch, **(config.arch_options or {}))
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=get_loss(config.loss))
    rng = np.random.default_rng(0)
    shape = (int(config.batch_size), int(config.patch_size), int(config.patch_size), 1)
    clean = rng.random(shape, dtype=np.float32)
    noisy = np.clip(clean + 0.05 * rng.standard_normal(shape, dtype=np.float32), 0, 1)
    model.train_on_batch(noisy, clean)
    t0 = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(noisy, clean)
    return (time.perf_counter() - t0) / steps


def result_to_dict(result: Any) -> dict:
    """`TrainingResult` -> a plain dict that crosses threads safely."""
    folder = getattr(result, "folder", None)
    return {"folder": str(folder) if folder else None, "best": dict(getattr(result, "best", {}) or {}),
            "epochs_run": int(getattr(result, "epochs_run", 0) or 0),
            "cancelled": bool(getattr(result, "cancelled", False))}


class TrainingWorker(QObject):
    """Lives in the training thread; every slot runs there and answers only through signals."""

    ready = pyqtSignal(object)  # {"config_class", "architectures", "losses", "noise_kinds", "device"}
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
        self._config_class: Any = None
        self._measure_cache: dict[tuple, float] = {}
        self.runs_done = 0  # incremented in the worker thread when a run has fully ended

    @pyqtSlot()
    def prepare(self) -> None:
        """Import `ml.train` (and so TensorFlow) in this thread and describe what can be chosen."""
        if self._config_class is not None:
            self.ready.emit(self._ready_info())
            return
        try:
            from mri_denoise_gui.ml import train as mltrain  # TensorFlow is imported here

            self._config_class = mltrain.TrainingConfig
            self.ready.emit(self._ready_info())
        except Exception as exc:
            self.prepareFailed.emit(*describe_error(exc))

    def _ready_info(self) -> dict:
        from mri_denoise_gui.ml import architectures, data as mldata
        from mri_denoise_gui.ml.device import configure_devices
        from mri_denoise_gui.ml.losses import LOSSES

        try:
            device = configure_devices()
        except Exception:
            device = "CPU"
        return {"config_class": self._config_class, "architectures": list(architectures.ARCHITECTURES),
                "losses": list(LOSSES), "noise_kinds": list(mldata.TRAIN_NOISE_KINDS), "device": device}

    @pyqtSlot(int, object, bool)
    def plan(self, request_id: int, config_dict: dict, measure: bool) -> None:
        """`ml.train.plan` plus slice counts and, if asked, a measured time per epoch."""
        try:
            from mri_denoise_gui.ml import train as mltrain

            config = mltrain.TrainingConfig.from_dict(config_dict)
            result = dict(mltrain.plan(config))
            try:
                result["slices"] = slice_counts(config, result)
            except Exception as exc:  # counts are a courtesy; the plan itself is what matters
                result["slices_error"] = describe_error(exc)[0]
            if measure:
                key = (config.arch, str(config.init_from), config.batch_size, config.patch_size, config.loss)
                if key not in self._measure_cache:
                    self._measure_cache[key] = measure_seconds_per_step(config)
                step = self._measure_cache[key]
                result["seconds_per_step"] = step
                val_steps = math.ceil(config.val_patches / config.batch_size)
                # validation is a forward pass: about a third of a training step
                result["seconds_per_epoch"] = step * (config.steps_per_epoch + val_steps / 3)
            self.planned.emit(request_id, result)
        except Exception as exc:
            self.planFailed.emit(request_id, *describe_error(exc))

    @pyqtSlot(object, object)
    def train(self, config_dict: dict, cancel: threading.Event) -> None:
        """Run `ml.train.train`; always ends with `finished` or `failed`, never an exception.

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
            from mri_denoise_gui.ml import train as mltrain

            config = mltrain.TrainingConfig.from_dict(config_dict)
            if cancel.is_set():  # cancelled before it began: nothing was written
                outcome = ("finished", {"folder": None, "best": {}, "epochs_run": 0, "cancelled": True})
            else:
                self.started.emit(config.to_dict())
                throttle = ProgressThrottle(self._emit_progress)
                result = mltrain.train(config, progress=throttle, cancel=cancel)
                info = result_to_dict(result)
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
        self.worker = TrainingWorker()
        for name in self.RELAYED:
            getattr(self.worker, name).connect(getattr(self, name))
        self._prepare.connect(self.worker.prepare)
        self._plan.connect(self.worker.plan)
        self._train.connect(self.worker.train)
        self._runs_requested = 0
        self.thread = PythonThread()
        self.thread.setObjectName("trainingThread")
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
