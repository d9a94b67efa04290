"""One long-lived worker thread that owns TensorFlow and the `Denoiser`.

Why a single worker: TensorFlow takes seconds to import and a model holds memory, so both
are loaded once, off the GUI thread (``mri_denoise_gui.ml.inference`` is imported inside
`InferenceWorker.load_model`, never at module level). Slice requests are coalesced: the
controller keeps only the newest pending request, so dragging the slider never queues work,
and every result carries its request id so the window can drop stale ones.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from PyQt6.QtCore import QObject, Qt, pyqtSignal, pyqtSlot

from mri_denoise_gui import errors_log
from mri_denoise_gui.qt.python_thread import PythonThread


@dataclass
class SliceRequest:
    request_id: int
    key: tuple  # what the result is for (axis, index, noise token, model token)
    image01: np.ndarray  # file-ordered 2D slice in [0, 1]


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(one-line reason for a person, full traceback for 'Show Details'); bugs are logged."""
    return errors_log.describe(exc, "mri-denoise-gui")


class InferenceWorker(QObject):
    """Lives in the worker thread; every slot runs there. Talks back only through signals."""

    status = pyqtSignal(str)
    modelLoaded = pyqtSignal(object)  # dict: name, folder, device, info
    modelFailed = pyqtSignal(str, str, str)  # folder, reason, details
    sliceDenoised = pyqtSignal(int, object, object)  # request id, key, 2D float32 (file order)
    sliceFailed = pyqtSignal(int, str, str)
    volumeProgress = pyqtSignal(int, int, int)  # request id, done, total
    volumeDenoised = pyqtSignal(int, object)  # request id, 3D float32 in [0, 1]
    volumeCancelled = pyqtSignal(int)
    volumeFailed = pyqtSignal(int, str, str)

    _wake = pyqtSignal()

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()
        self._pending: SliceRequest | None = None
        self._denoiser: Any = None
        self.slices_processed = 0  # for tests and benchmarks
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

    def drop_pending(self) -> None:
        with self._lock:
            self._pending = None

    # -- worker-thread slots --------------------------------------------------------------
    @pyqtSlot(str)
    def load_model(self, folder: str) -> None:
        try:
            self.status.emit("Loading TensorFlow…")
            t0 = time.perf_counter()
            from mri_denoise_gui.ml import inference  # TensorFlow is imported here, in this thread

            try:  # registers the custom layers a saved model may need (safe_mode loading)
                import mri_denoise_gui.ml.layers  # noqa: F401
            except ImportError:
                pass

            try:
                from mri_denoise_gui.ml.device import configure_devices

                device = configure_devices()
            except Exception:  # device listing must never stop CPU inference
                device = "CPU"
            self.status.emit(f"Loading model {folder}…")
            denoiser = inference.Denoiser.load(folder)
            self.status.emit("Preparing the model…")
            try:
                # Trace the model's tf.function now, in this thread, while the GUI is idle. Without
                # this the first on-demand slice traced it concurrently with the GUI thread and
                # crashed TensorFlow (segfault in graph_def_versions) in about half the runs.
                denoiser.denoise_slice01(np.zeros((32, 32), np.float32))
            except Exception:  # a real failure shows up again on the first real slice
                pass
            self._denoiser = denoiser
            self.modelLoaded.emit(
                {
                    "name": str(getattr(denoiser, "name", "model")),
                    "folder": str(getattr(denoiser, "folder", folder)),
                    "device": str(getattr(denoiser, "device", device) or device),
                    "info": dict(getattr(denoiser, "info", {}) or {}),
                    "seconds": time.perf_counter() - t0,
                }
            )
        except Exception as exc:  # any failure becomes a message, never a crash
            reason, details = describe_error(exc)
            self.modelFailed.emit(folder, reason, details)

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
            self.sliceDenoised.emit(request.request_id, request.key, np.asarray(out, dtype=np.float32))
        except Exception as exc:
            reason, details = describe_error(exc)
            self.sliceFailed.emit(request.request_id, reason, details)

    @pyqtSlot(int, object, int, object)
    def denoise_volume(self, request_id: int, data01: object, axis: int, cancel: object) -> None:
        if self._denoiser is None:
            self.volumeFailed.emit(request_id, "no model is loaded", "")
            return
        last = [-1]

        def progress(done: int, total: int) -> None:
            percent = int(100 * done / max(total, 1))
            if percent != last[0]:  # throttle: at most one signal per percent
                last[0] = percent
                self.volumeProgress.emit(request_id, int(done), int(total))
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

    _load = pyqtSignal(str)
    _volume = pyqtSignal(int, object, int, object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.thread = PythonThread()  # one Python thread state: TF's thread-locals survive
        self.thread.setObjectName("inferenceThread")
        self.worker = InferenceWorker()
        self.worker.moveToThread(self.thread)
        self._load.connect(self.worker.load_model)
        self._volume.connect(self.worker.denoise_volume)
        self._next_id = 0
        self._cancel: threading.Event | None = None
        self.volume_request_id: int | None = None
        self.thread.start()

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def load_model(self, folder: str) -> None:
        self.worker.drop_pending()
        self._load.emit(str(folder))

    def request_slice(self, key: tuple, image01: np.ndarray) -> int:
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
