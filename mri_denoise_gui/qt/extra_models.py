"""Second (third…) models for comparison panes, in the inference worker's own thread.

TensorFlow's thread-locals want every model call in one thread, so this worker is moved to the
`InferenceController`'s thread: it holds models keyed by folder (loaded on first use), keeps one
pending slice request per folder (latest wins, as the main worker does) and denoises whole
volumes for "Denoise volume". Each request names the denoising strength (the main model's, so
that a comparison is at the same setting; ml/strength.py): a model without a noise-level input
runs at 1. It talks back only through queued signals.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np
from PyQt6.QtCore import QObject, Qt, pyqtSignal, pyqtSlot

from mri_denoise_gui.qt.inference_worker import InferenceController, describe_error


class ExtraModelWorker(QObject):
    """Lives in the inference thread; one model per folder, one pending slice per folder."""

    sliceDenoised = pyqtSignal(str, object, object)  # folder, key, 2D float32 (file order)
    sliceFailed = pyqtSignal(str, object, str, str)  # folder, key, reason, details
    volumeDenoised = pyqtSignal(str, object, object)  # folder, token, 3D float32
    volumeFailed = pyqtSignal(str, str, str)
    _wake = pyqtSignal()
    _volume = pyqtSignal(str, object, int, object, float)

    def __init__(self, precision: Callable[[], str] = lambda: "auto"):
        super().__init__()
        self._lock = threading.Lock()
        self._pending: dict[tuple, tuple] = {}
        self._precision = precision  # the window's Model > Precision choice, read at each load
        self._models: dict[tuple[str, str, float], Any] = {}
        self._wake.connect(self._process, Qt.ConnectionType.QueuedConnection)
        self._volume.connect(self._denoise_volume, Qt.ConnectionType.QueuedConnection)

    # -- GUI thread -------------------------------------------------------------------------
    def submit(self, folder: str, key: tuple, image01: np.ndarray, slot: str = "pane", strength: float = 1.0) -> None:
        """Latest wins per (folder, slot): the panes use "pane", the orthogonal views one slot per plane."""
        with self._lock:
            self._pending[(folder, slot)] = (key, image01, float(strength))
        self._wake.emit()

    def submit_volume(self, folder: str, token: object, data01: np.ndarray, axis: int, strength: float = 1.0) -> None:
        self._volume.emit(folder, token, int(axis), data01, float(strength))

    # -- inference thread -------------------------------------------------------------------
    def _model(self, folder: str, strength: float):
        """The model of ``folder`` in the precision the main model runs in, at ``strength``
        (reloaded if either changed)."""
        key = (folder, str(self._precision() or "auto"), float(strength))
        if key not in self._models:
            from mri_denoise_gui.ml import inference  # TensorFlow, in this thread

            for old in [k for k in self._models if k[0] == folder]:
                del self._models[old]
            self._models[key] = inference.Denoiser.load(folder, precision=key[1], strength=key[2],
                                                        strict_strength=False)
        return self._models[key]

    @pyqtSlot()
    def _process(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for (folder, _slot), (key, image01, strength) in pending.items():
            try:
                out = self._model(folder, strength).denoise_slice01(image01)
                self.sliceDenoised.emit(folder, key, np.asarray(out, dtype=np.float32))
            except Exception as exc:  # a message in the pane, never a crash
                self.sliceFailed.emit(folder, key, *describe_error(exc))

    @pyqtSlot(str, object, int, object, float)
    def _denoise_volume(self, folder: str, token: object, axis: int, data01: object, strength: float) -> None:
        try:
            out = self._model(folder, strength).denoise_volume01(data01, axis=axis)
            self.volumeDenoised.emit(folder, token, np.asarray(out, dtype=np.float32))
        except Exception as exc:
            self.volumeFailed.emit(folder, *describe_error(exc))


def extra_model_worker(controller: InferenceController) -> ExtraModelWorker:
    """A worker living in `controller`'s thread (stopped with it at shutdown)."""
    worker = ExtraModelWorker(lambda: controller.precision)
    worker.moveToThread(controller.thread)
    return worker
