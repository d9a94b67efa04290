"""The first slices come from the model's LiteRT copy while TensorFlow loads; then TF takes over
with the same results, and the window keeps what it shows and caches (only the speed changes)."""

from __future__ import annotations

import numpy as np
import pytest

from mri_denoise_gui.qt.inference_worker import InferenceController

pytest.importorskip("ai_edge_litert")


@pytest.fixture(scope="module")
def lite_model_dir(tmp_path_factory):
    from mri_denoise_gui.ml.architectures import build, stride
    from mri_denoise_gui.ml.litert import write_lite_copy
    from mri_denoise_gui.ml.modelfile import save_model_folder
    from tests.ml.conftest import random_weights

    model = random_weights(build("tiny"), seed=7, scale=0.05)  # a network that changes its input
    meta = {"name": "lite", "architecture": "tiny", "stride": stride("tiny"),
            "normalizer": {"method": "percentile", "low": 0.5, "high": 99.5}}
    folder = save_model_folder(model, tmp_path_factory.mktemp("models") / "lite", meta)
    write_lite_copy(folder)
    return folder


def test_litert_serves_until_tensorflow_takes_over_with_the_same_results(qtbot, lite_model_dir):
    from mri_denoise_gui.ml.inference import Denoiser

    exact = Denoiser.load(lite_model_dir, precision="float32")
    images = [np.random.default_rng(i).random((40, 44)).astype(np.float32) for i in range(2)]
    controller = InferenceController()
    controller.precision = "float32"
    worker = controller.worker
    switched = []
    worker.backendChanged.connect(switched.append)
    try:
        with qtbot.waitSignal(worker.modelLoaded, timeout=60_000) as loaded:
            controller.load_model(str(lite_model_dir))
        assert loaded.args[0]["backend"] == "litert" and "LiteRT" in loaded.args[0]["device"]
        with qtbot.waitSignal(worker.sliceDenoised, timeout=60_000) as first:
            controller.request_slice(("axial", 0), images[0])
        assert worker.last_backend == "litert"
        qtbot.waitUntil(lambda: bool(switched), timeout=120_000)
        assert switched[0]["backend"] == "tensorflow" and switched[0]["precision"] == "float32"
        with qtbot.waitSignal(worker.sliceDenoised, timeout=60_000) as second:
            controller.request_slice(("axial", 1), images[1])
        assert worker.last_backend == "tensorflow"
    finally:
        controller.shutdown()
    for result, image in ((first.args[2], images[0]), (second.args[2], images[1])):
        expected = exact.denoise_slice01(image)
        assert np.abs(expected - image).max() > 1e-3  # the network changes the slice
        np.testing.assert_allclose(result, expected, atol=1e-5)


def test_window_keeps_its_slices_when_tensorflow_takes_over(qtbot, make_window, small_file, lite_model_dir):
    window = make_window()
    assert window.open_file(small_file)
    switched = []
    window.controller.worker.backendChanged.connect(switched.append)
    with qtbot.waitSignal(window.firstDenoisedShown, timeout=60_000):
        window.load_model(lite_model_dir)
    token, shown = window.session.model_token, window.current["denoised"]
    qtbot.waitUntil(lambda: bool(switched), timeout=120_000)
    qtbot.wait(50)
    assert window.model["backend"] == "tensorflow" and window.session.model_token == token
    assert window.current["denoised"] is shown and window.session.cache.get(window.session.slice_key()) is not None
    assert "LiteRT" not in window.device_label.text()


def test_a_model_tensorflow_refuses_is_dropped_even_after_its_litert_copy_served(
        qtbot, make_window, small_file, lite_model_dir, tmp_path):
    import json
    import shutil

    folder = tmp_path / "refused"
    shutil.copytree(lite_model_dir, folder)
    meta = json.loads((folder / "model.json").read_text())
    meta["parameters"] += 1  # model.keras untouched, so its LiteRT copy is still fresh
    (folder / "model.json").write_text(json.dumps(meta))
    window = make_window()
    assert window.open_file(small_file)
    announced = []
    window.controller.worker.modelLoaded.connect(announced.append)
    with qtbot.waitSignal(window.modelFailed, timeout=120_000) as failed:
        window.load_model(folder)
    assert "does not match" in failed.args[0]
    assert [info["backend"] for info in announced] == ["litert"]  # the bridge had announced it
    assert window.model is None and window.device_label.text() == ""
    assert window.session.cache.get(window.session.slice_key()) is None  # nothing the refused model made stays on hand


def test_with_no_volume_open_tensorflow_does_not_wait_for_a_first_slice(qtbot, lite_model_dir, monkeypatch):
    """LiteRT's first slice gets a head start over TensorFlow's import only while a slice is wanted."""
    import time

    from mri_denoise_gui.qt import inference_worker

    monkeypatch.setattr(inference_worker, "FIRST_SLICE_GRACE_S", 30.0)  # a wait would be plain to see
    controller = InferenceController()
    worker = controller.worker
    statuses = []
    worker.status.connect(lambda text: statuses.append((time.monotonic(), text)))
    try:
        with qtbot.waitSignal(worker.modelLoaded, timeout=60_000):
            controller.load_model(str(lite_model_dir), slices_wanted=False)
        announced = time.monotonic()
        qtbot.waitUntil(lambda: any("TensorFlow" in text for _, text in statuses), timeout=20_000)
        started_tf = next(t for t, text in statuses if "TensorFlow" in text)
        assert started_tf - announced < 5.0
        assert worker.slices_processed == 0
    finally:
        controller.shutdown()
