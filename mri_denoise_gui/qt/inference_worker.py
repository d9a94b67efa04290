"""One long-lived worker thread that owns TensorFlow and the `Denoiser`.

Why a single worker: TensorFlow takes seconds to import and a model holds memory, so both
are loaded once, off the GUI thread (``mri_denoise_gui.ml.inference`` is imported inside
`InferenceWorker.load_model`, never at module level). Slice requests are coalesced: the
controller keeps only the newest pending request, so dragging the slider never queues work,
and every result carries its request id so the window can drop stale ones.

The first model load bridges TensorFlow's import with LiteRT: when the model folder has a fresh
``model.tflite`` (see ``ml/litert.py``), `modelLoaded` is emitted at once and a plain Python thread
(`_LiteBridge`) denoises slice requests with it until TensorFlow is ready in the worker thread,
which then takes over (`backendChanged`). The two agree to float32 round-off, so the switch shows
only as speed. Without a fresh copy the load simply waits for TensorFlow.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from PyQt6.QtCore import QObject, Qt, pyqtSignal, pyqtSlot

from mri_denoise_gui import errors_log
from mri_denoise_gui.qt.python_thread import PythonThread
from mri_denoise_gui.viewer.jobs import PercentThrottle

_log = logging.getLogger(__name__)
FIRST_SLICE_GRACE_S = 3.0  # TensorFlow's import holds the GIL for seconds: let LiteRT's first slice in first


@dataclass
class SliceRequest:
    request_id: int
    key: tuple  # what the result is for (axis, index, noise token, model token)
    image01: np.ndarray  # file-ordered 2D slice in [0, 1]


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(one-line reason for a person, full traceback for 'Show Details'); bugs are logged."""
    return errors_log.describe(exc, "mri-denoise-gui")


class _LiteBridge:
    """Denoises the worker's pending slice requests with LiteRT in a plain thread, while the worker
    thread imports TensorFlow. Requests it cannot run (too large to run untiled) wait for TF."""

    def __init__(self, worker: "InferenceWorker", lite):
        self.worker, self.lite = worker, lite
        self.wake, self.stop, self.first_done = threading.Event(), threading.Event(), threading.Event()
        self.busy = threading.Event()  # a slice in hand
        self.thread = threading.Thread(target=self._run, name="litert-slices", daemon=True)
        self.thread.start()
        self.wake.set()  # a request may be pending already

    def _run(self) -> None:
        from mri_denoise_gui.ml.native_log import quiet_native_stderr

        while True:
            self.wake.wait()
            self.wake.clear()
            if self.stop.is_set():
                return
            self.busy.set()
            request = self.worker._take_pending()
            if request is None:
                self.busy.clear()
                continue
            try:
                with quiet_native_stderr():  # LiteRT announces its CPU delegate on stderr
                    out = self.lite.denoise_slice01(request.image01)
            except Exception as exc:  # TensorFlow will do it, and report a real failure
                _log.info("LiteRT could not denoise a slice: %s", exc)
                out = None
            finally:
                self.busy.clear()
            if out is None:
                self.worker._put_back(request)
                continue
            self.worker.slices_processed += 1
            self.worker.last_backend = "litert"
            self.worker.sliceDenoised.emit(request.request_id, request.key, out)
            self.first_done.set()

    def close(self) -> None:
        """Stop after the slice in hand (if any) is delivered."""
        self.stop.set()
        self.wake.set()
        self.thread.join()


def _describe(denoiser, folder: str, seconds: float, backend: str) -> dict:
    device = str(getattr(denoiser, "device", "CPU") or "CPU")
    precision = str(getattr(denoiser, "precision", "float32"))
    label = f"{device}, {precision}" if backend == "tensorflow" else "CPU, LiteRT float32 (TensorFlow loading)"
    model = getattr(denoiser, "model", None)
    if model is not None:
        from mri_denoise_gui.ml.strength import has_noise_input

        adjustable = has_noise_input(model)
    else:  # the LiteRT copy: known from model.json until TensorFlow has the network
        adjustable = bool((getattr(denoiser, "info", {}) or {}).get("architecture_options", {}).get("noise_level"))
    return {"name": str(getattr(denoiser, "name", "model")), "folder": str(getattr(denoiser, "folder", folder)),
            "device": label, "precision": precision, "backend": backend,
            "strength": float(getattr(denoiser, "strength", 1.0)), "strength_adjustable": adjustable,
            "info": dict(getattr(denoiser, "info", {}) or {}), "seconds": seconds}


class InferenceWorker(QObject):
    """Lives in the worker thread; every slot runs there. Talks back only through signals."""

    status = pyqtSignal(str)
    modelLoaded = pyqtSignal(object)  # dict: name, folder, device, precision, backend, strength, info, seconds
    strengthChanged = pyqtSignal(object)  # the same dict: the model now denoises at another strength
    strengthFailed = pyqtSignal(str)  # why the strength could not be set
    backendChanged = pyqtSignal(object)  # same dict: TensorFlow took over from LiteRT for this model
    modelFailed = pyqtSignal(str, str, str)  # folder, reason, details
    sliceDenoised = pyqtSignal(int, object, object)  # request id, key, 2D float32 (file order)
    sliceFailed = pyqtSignal(int, str, str)
    volumeProgress = pyqtSignal(int, int, int)  # request id, done, total
    volumeDenoised = pyqtSignal(int, object)  # request id, 3D float32 in [0, 1]
    volumeCancelled = pyqtSignal(int)
    volumeFailed = pyqtSignal(int, str, str)
    modelCallDone = pyqtSignal(int, object)  # request id, what run_with_model's function returned
    modelCallFailed = pyqtSignal(int, str, str)

    _wake = pyqtSignal()

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()
        self._pending: SliceRequest | None = None
        self._denoiser: Any = None
        self._bridge: _LiteBridge | None = None
        self._tf_ready = False
        # set by the GUI thread while a volume is open or opening: only then does LiteRT's first
        # slice get its head start over TensorFlow's import
        self.slices_wanted = threading.Event()
        self.slices_wanted.set()
        self.slices_processed = 0  # for tests and benchmarks
        self.last_backend = ""  # "litert" or "tensorflow": what denoised the last slice
        # queued even when sender and worker share a thread: requests made in one burst coalesce
        self._wake.connect(self._process_pending_slice, Qt.ConnectionType.QueuedConnection)

    # -- called from the GUI thread -------------------------------------------------------
    def submit_slice(self, request: SliceRequest) -> None:
        """Replace whatever slice request is pending; wake the worker only if it was idle."""
        with self._lock:
            was_empty = self._pending is None
            self._pending = request
        if was_empty:
            self._wake.emit()
        bridge = self._bridge
        if bridge is not None:
            bridge.wake.set()

    def drop_pending(self) -> None:
        with self._lock:
            self._pending = None

    def _take_pending(self) -> SliceRequest | None:
        with self._lock:
            request, self._pending = self._pending, None
        return request

    def _put_back(self, request: SliceRequest) -> None:
        """Leave ``request`` for TensorFlow, unless a newer one superseded it meanwhile."""
        with self._lock:
            if self._pending is None:
                self._pending = request

    # -- worker-thread slots --------------------------------------------------------------
    def _start_bridge(self, folder: str, t0: float) -> _LiteBridge | None:
        """Announce the model at once and serve slices with its LiteRT copy, if it has a fresh one."""
        if os.environ.get("MRI_DENOISE_GUI_LITERT", "1") == "0":  # opt-out (and the benchmark's baseline)
            return None
        try:
            from mri_denoise_gui.ml.litert import LiteDenoiser

            lite = LiteDenoiser.load(folder)
        except Exception as exc:  # never a reason not to load the model with TensorFlow
            _log.info("LiteRT bridge not used: %s", exc)
            lite = None
        if lite is None:
            return None
        self._bridge = _LiteBridge(self, lite)
        self.modelLoaded.emit(_describe(lite, folder, time.perf_counter() - t0, "litert"))
        self._give_first_slice_a_head_start(self._bridge)
        return self._bridge

    def _give_first_slice_a_head_start(self, bridge: _LiteBridge) -> None:
        """Hold TensorFlow's import (which holds the GIL for seconds) until LiteRT's first slice is
        out, for at most FIRST_SLICE_GRACE_S, and not at all while no slice is wanted (no volume)."""
        deadline = time.monotonic() + FIRST_SLICE_GRACE_S
        while not bridge.first_done.wait(0.02) and time.monotonic() < deadline:
            with self._lock:
                pending = self._pending is not None
            if not (pending or bridge.busy.is_set() or self.slices_wanted.is_set()):
                return

    def _stop_bridge(self) -> None:
        bridge, self._bridge = self._bridge, None
        if bridge is not None:
            bridge.close()

    @pyqtSlot(str, str, float)
    def load_model(self, folder: str, precision: str = "auto", strength: float = 1.0) -> None:
        """Load ``folder``; ``strength`` applies if the network has a noise-level input (else 1).
        The LiteRT bridge only serves strength 1 (its copy is converted as trained)."""
        t0 = time.perf_counter()
        bridged = False
        try:
            bridged = not self._tf_ready and strength == 1.0 and self._start_bridge(folder, t0) is not None
            self.status.emit("Loading TensorFlow…")
            from mri_denoise_gui.ml.native_log import quiet_native_stderr

            with quiet_native_stderr():  # TensorFlow's import chatter ignores TF_CPP_MIN_LOG_LEVEL
                from mri_denoise_gui.ml import inference  # TensorFlow is imported here, in this thread

            self.status.emit(f"Loading model {folder}…")
            denoiser = inference.Denoiser.load(folder, precision=precision or "auto", strength=strength,
                                               strict_strength=False)
            self.status.emit("Preparing the model…")
            try:
                # Trace the model's tf.function now, in this thread, while the GUI is idle. Without
                # this the first on-demand slice traced it concurrently with the GUI thread and
                # crashed TensorFlow (segfault in graph_def_versions) in about half the runs.
                denoiser.denoise_slice01(np.zeros((32, 32), np.float32))
            except Exception:  # a real failure shows up again on the first real slice
                pass
            self._tf_ready = True
            self._stop_bridge()  # after the slice it may be running: no result is lost or doubled
            self._denoiser = denoiser
            info = _describe(denoiser, folder, time.perf_counter() - t0, "tensorflow")
            (self.backendChanged if bridged else self.modelLoaded).emit(info)
        except Exception as exc:  # any failure becomes a message, never a crash
            self._stop_bridge()
            if bridged:
                self._denoiser = None
            reason, details = describe_error(exc)
            self.modelFailed.emit(folder, reason, details)

    @pyqtSlot(float)
    def set_strength(self, strength: float) -> None:
        """Denoise at ``strength`` from now on (a rebuild of the network's copy, ~0.2 s)."""
        if self._denoiser is None:  # still loading: the window asks again once the model is there
            return
        try:
            self._denoiser.set_strength(strength)
            self._denoiser.denoise_slice01(np.zeros((32, 32), np.float32))  # trace it here, not on a scrub
            self.strengthChanged.emit(_describe(self._denoiser, str(self._denoiser.folder), 0.0, "tensorflow"))
        except Exception as exc:
            self.strengthFailed.emit(describe_error(exc)[0])

    @pyqtSlot()
    def _process_pending_slice(self) -> None:
        with self._lock:
            request, self._pending = self._pending, None
        if request is None:
            return
        if self._denoiser is None:
            self.sliceFailed.emit(request.request_id, "no model is loaded", "")
            return
        try:
            out = self._denoiser.denoise_slice01(request.image01)
            self.slices_processed += 1
            self.last_backend = "tensorflow"
            self.sliceDenoised.emit(request.request_id, request.key, np.asarray(out, dtype=np.float32))
        except Exception as exc:
            reason, details = describe_error(exc)
            self.sliceFailed.emit(request.request_id, reason, details)

    @pyqtSlot(int, object)
    def run_with_model(self, request_id: int, fn: object) -> None:
        """``fn(denoiser)`` here, where TensorFlow lives: figures that need the model (e.g. SURE)."""
        if self._denoiser is None:
            self.modelCallFailed.emit(request_id, "the model is still loading", "")
            return
        try:
            self.modelCallDone.emit(request_id, fn(self._denoiser))
        except Exception as exc:
            self.modelCallFailed.emit(request_id, *describe_error(exc))

    @pyqtSlot(int, object, int, object)
    def denoise_volume(self, request_id: int, data01: object, axis: int, cancel: object) -> None:
        if self._denoiser is None:
            self.volumeFailed.emit(request_id, "no model is loaded", "")
            return
        counts = [0, 0]
        throttle = PercentThrottle(lambda percent: self.volumeProgress.emit(request_id, *counts))

        def progress(done: int, total: int) -> None:
            counts[:] = int(done), int(total)
            throttle(done, total)  # at most one signal per percent
            if self._pending is not None and done < total:
                # between two batches, serve the slice on screen: scrubbing stays live meanwhile
                self._process_pending_slice()

        from mri_denoise_gui.ml.errors import Cancelled

        try:
            if cancel.is_set():
                raise Cancelled()
            out = self._denoiser.denoise_volume01(data01, axis=axis, progress=progress, cancel=cancel)
            if cancel.is_set():
                raise Cancelled()
            self.volumeDenoised.emit(request_id, np.asarray(out, dtype=np.float32))
        except Cancelled:
            self.volumeCancelled.emit(request_id)
        except Exception as exc:
            reason, details = describe_error(exc)
            self.volumeFailed.emit(request_id, reason, details)


class InferenceController(QObject):
    """GUI-thread handle on the worker: owns the QThread, numbers requests, cancels, shuts down."""

    _load = pyqtSignal(str, str, float)
    _strength = pyqtSignal(float)
    _volume = pyqtSignal(int, object, int, object)
    _call = pyqtSignal(int, object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.thread = PythonThread()  # one Python thread state: TF's thread-locals survive
        self.thread.setObjectName("inferenceThread")
        self.worker = InferenceWorker()
        self.worker.moveToThread(self.thread)
        self._load.connect(self.worker.load_model)
        self._strength.connect(self.worker.set_strength)
        self._volume.connect(self.worker.denoise_volume)
        self._call.connect(self.worker.run_with_model)
        self._next_id = 0
        self.precision = "auto"  # what load_model asks for: auto | float32 | bfloat16 | float16
        self.strength = 1.0  # what load_model and set_strength ask for (ml/strength.py)
        self._cancel: threading.Event | None = None
        self.volume_request_id: int | None = None
        self.thread.start()

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def load_model(self, folder: str, precision: str | None = None, slices_wanted: bool = True) -> None:
        """``slices_wanted``: a volume is open or opening (see InferenceWorker.slices_wanted)."""
        self.worker.drop_pending()
        (self.worker.slices_wanted.set if slices_wanted else self.worker.slices_wanted.clear)()
        self._load.emit(str(folder), str(precision or self.precision), float(self.strength))

    def set_strength(self, strength: float) -> None:
        """Denoise at ``strength`` from now on; strengthChanged / strengthFailed answer."""
        self.strength = float(strength)
        self.worker.drop_pending()
        self._strength.emit(self.strength)

    def request_slice(self, key: tuple, image01: np.ndarray) -> int:
        self.worker.slices_wanted.set()
        request_id = self._new_id()
        self.worker.submit_slice(SliceRequest(request_id, key, image01))
        return request_id

    def denoise_volume(self, data01: np.ndarray, axis: int) -> int:
        self.cancel_volume()
        request_id = self._new_id()
        self._cancel = threading.Event()
        self.volume_request_id = request_id
        self._volume.emit(request_id, data01, int(axis), self._cancel)
        return request_id

    def run_with_model(self, fn) -> int:
        """Queue ``fn(denoiser)`` in the worker; the answer comes as modelCallDone / modelCallFailed."""
        request_id = self._new_id()
        self._call.emit(request_id, fn)
        return request_id

    def cancel_volume(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
        self.volume_request_id = None

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Cancel running work, stop the thread and wait for it (a running model call finishes)."""
        self.cancel_volume()
        self.worker.drop_pending()
        self.thread.quit()
        ok = self.thread.wait(timeout_ms)
        if not ok:  # keep the thread object alive rather than destroy a running QThread
            self.thread.wait()
        return ok
