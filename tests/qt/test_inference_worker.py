"""The inference worker on its own: coalescing, stale ids, cancel, errors as signals."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from mri_denoise_gui.qt.inference_worker import InferenceController, InferenceWorker, SliceRequest


@pytest.fixture(scope="module")
def denoiser(tiny_model_dir):
    from mri_denoise_gui.ml.inference import Denoiser

    return Denoiser.load(tiny_model_dir)


def test_a_burst_of_requests_is_coalesced_to_the_latest(qtbot, denoiser):
    worker = InferenceWorker()  # lives in this thread: its queued wake runs on processEvents
    worker._denoiser = denoiser
    results = []
    worker.sliceDenoised.connect(lambda rid, key, img: results.append((rid, key)))
    rng = np.random.default_rng(0)
    for i in range(50):
        worker.submit_slice(SliceRequest(i + 1, ("axial", i), rng.random((16, 20), dtype=np.float32)))
    qtbot.waitUntil(lambda: len(results) >= 1, timeout=10_000)
    qtbot.wait(50)
    assert results == [(50, ("axial", 49))]
    assert worker.slices_processed == 1


def test_failures_come_back_as_signals(qtbot, tmp_path):
    controller = InferenceController()
    try:
        with qtbot.waitSignal(controller.worker.modelFailed, timeout=120_000) as blocker:
            controller.load_model(str(tmp_path / "missing"))
        folder, reason, details = blocker.args
        assert reason and "\n" not in reason
        with qtbot.waitSignal(controller.worker.sliceFailed, timeout=10_000) as blocker:
            controller.request_slice(("axial", 0), np.zeros((8, 8), np.float32))
        assert "no model" in blocker.args[1]
    finally:
        controller.shutdown()
    assert controller.thread.isFinished()


def test_volume_cancel_before_start_reports_cancelled(qtbot, denoiser):
    worker = InferenceWorker()
    worker._denoiser = denoiser
    cancel = threading.Event()
    cancel.set()
    with qtbot.waitSignal(worker.volumeCancelled, timeout=10_000) as blocker:
        worker.denoise_volume(7, np.zeros((8, 8, 4), np.float32), 2, cancel)
    assert blocker.args == [7]


def test_volume_progress_is_throttled_and_complete(qtbot, denoiser):
    worker = InferenceWorker()
    worker._denoiser = denoiser
    progress = []
    worker.volumeProgress.connect(lambda rid, done, total: progress.append((done, total)))
    data = np.random.default_rng(1).random((16, 16, 30), dtype=np.float32)
    with qtbot.waitSignal(worker.volumeDenoised, timeout=60_000) as blocker:
        worker.denoise_volume(3, data, 2, threading.Event())
    assert blocker.args[1].shape == data.shape
    assert progress and progress[-1][0] == progress[-1][1] == 30
    percents = [100 * done // total for done, total in progress]
    assert percents == sorted(set(percents))  # one signal per new whole percent, never a repeat
