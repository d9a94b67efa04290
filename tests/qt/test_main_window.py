"""The main window with a real tiny model: panes, metrics, noise, worker, export, failures."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from PyQt6.QtCore import QThread, Qt
from PyQt6.QtWidgets import QLabel, QMessageBox, QPushButton, QSlider, QWidget

from mri_denoise_gui.core import metrics as core_metrics
from mri_denoise_gui.core.noise import add_noise
from mri_denoise_gui.viewer.state import display_from_file_slice, file_order_slice
from tests.conftest import phantom, write_nifti
from tests.qt.conftest import open_and_wait, wait_denoised_current

OBJECT_NAMES = (
    "noisyView", "denoisedView", "truthView", "residualView", "sliceSlider", "axisCombo",
    "noiseKindCombo", "noiseVarianceSpin", "noiseSeedSpin", "ssimNoisyLabel", "ssimDenoisedLabel",
    "psnrNoisyLabel", "psnrDenoisedLabel", "denoiseVolumeButton", "progressBar", "cancelButton",
)


def test_object_names_for_automation(window):
    for name in OBJECT_NAMES:
        assert window.findChild(QWidget, name) is not None, name
    assert isinstance(window.findChild(QSlider, "sliceSlider"), QSlider)
    assert isinstance(window.findChild(QPushButton, "denoiseVolumeButton"), QPushButton)


def test_slider_shows_the_right_slice_in_every_pane(qtbot, model_window, small_file, tiny_model_dir):
    from mri_denoise_gui.ml.inference import Denoiser

    w = model_window
    assert w.open_file(small_file)
    denoiser = Denoiser.load(tiny_model_dir)
    for axis in ("axial", "coronal", "sagittal"):
        w.axis_combo.setCurrentIndex(w.axis_combo.findData(axis))
        assert w.session.axis == axis
        geom = w.data.geometry(axis)
        for index in (0, geom.n_slices // 3, geom.n_slices - 1):
            w.slice_slider.setValue(index)
            assert w.index == index
            wait_denoised_current(qtbot, w)
            np.testing.assert_array_equal(w.panes["truth"].image, geom.extract(w.data.truth01, index))
            np.testing.assert_array_equal(w.panes["noisy"].image, geom.extract(w.data.noisy01, index))
            expected = display_from_file_slice(
                denoiser.denoise_slice01(file_order_slice(w.data.noisy01, geom, index)), geom, index)
            np.testing.assert_allclose(w.panes["denoised"].image, expected, atol=1e-5)


def test_display_shows_true_aspect_and_orientation(window, small_file):
    assert window.open_file(small_file)
    pane = window.panes["noisy"]
    geom = window.data.geometry("axial")
    rect = pane.image_rect()
    rows, cols = geom.image_shape
    assert rect.width() == pytest.approx(cols * geom.pixel_size[1])
    assert rect.height() == pytest.approx(rows * geom.pixel_size[0])
    assert pane._edge_labels["left"].text() == "R" and pane._edge_labels["top"].text() == "A"


def test_metric_labels_match_core_metrics(qtbot, model_window, small_file):
    w = model_window
    w.open_file(small_file)
    w.set_slice(10)
    wait_denoised_current(qtbot, w)
    qtbot.waitUntil(lambda: (w.slice_metrics.get("denoised") or {}).get("ssim") is not None, timeout=10_000)
    w.update_slice_metrics(wait=True)
    truth, noisy, den = w.current["truth"], w.current["noisy"], w.current["denoised"]
    label = lambda name: w.findChild(QLabel, name).text()  # noqa: E731
    assert label("ssimNoisyLabel") == f"{core_metrics.ssim(truth, noisy):.4f}"
    assert label("ssimDenoisedLabel") == f"{core_metrics.ssim(truth, den):.4f}"
    assert label("psnrNoisyLabel") == f"{core_metrics.psnr(truth, noisy):.2f} dB"
    assert label("psnrDenoisedLabel") == f"{core_metrics.psnr(truth, den):.2f} dB"
    gain = core_metrics.ssim(truth, den) - core_metrics.ssim(truth, noisy)
    assert label("ssimDeltaLabel") == f"{gain:+.4f}"

    w.metrics_panel.mask_check.setChecked(True)
    w.update_slice_metrics(wait=True)
    mask = w.data.geometry("axial").extract(core_metrics.foreground_mask(w.data.truth01), 10)
    assert label("ssimNoisyLabel") == f"{core_metrics.ssim(truth, noisy, mask):.4f}"
    assert label("psnrDenoisedLabel") == f"{core_metrics.psnr(truth, den, mask):.2f} dB"


def test_changing_noise_changes_the_noisy_pane_reproducibly(window, small_file):
    w = window
    w.open_file(small_file)
    geom = w.data.geometry("axial")
    w.set_noise("gaussian", 0.01, 3)
    first = w.panes["noisy"].image.copy()
    expected = geom.extract(add_noise(w.data.truth01, "gaussian", 0.01, seed=3), w.index)
    np.testing.assert_array_equal(first, expected)
    assert w.noise_controls.variance_spin.value() == pytest.approx(0.01)
    assert "σ = 0.100" in w.noise_controls.sigma_label.text() and "10.0 %" in w.noise_controls.sigma_label.text()

    w.set_noise(seed=4)
    assert not np.array_equal(w.panes["noisy"].image, first)
    w.set_noise(seed=3)
    np.testing.assert_array_equal(w.panes["noisy"].image, first)


def test_noise_widgets_regenerate_when_auto_apply_is_on(qtbot, window, small_file):
    w = window
    w.open_file(small_file)
    w.noise_controls.auto_check.setChecked(True)
    token = w.session.noise_token
    with qtbot.waitSignal(w.noiseApplied, timeout=5000):
        w.noise_controls.kind_combo.setCurrentIndex(w.noise_controls.kind_combo.findData("speckle"))
    assert w.session.noise.kind == "speckle" and w.session.noise_token > token


def test_fifty_rapid_slice_requests_apply_only_the_last(qtbot, model_window, tall_file):
    w = model_window
    w.open_file(tall_file)
    wait_denoised_current(qtbot, w)
    w.applied_slice_requests.clear()
    processed_before = w.controller.worker.slices_processed
    indices = [i for i in range(w.data.geometry("axial").n_slices) if i != w.index][:50]
    assert len(indices) == 50
    for i in indices:
        w.set_slice(i)
    last_id = w._latest_slice_request
    wait_denoised_current(qtbot, w)
    qtbot.wait(300)  # let any stale result arrive: it must not be shown
    assert w.applied_slice_requests == [last_id]
    assert w.index == indices[-1]
    assert w.controller.worker.slices_processed - processed_before <= 50


def test_cached_slices_come_back_without_the_worker(qtbot, model_window, small_file):
    w = model_window
    w.open_file(small_file)
    wait_denoised_current(qtbot, w)
    first = w.index
    w.set_slice(first + 1)
    wait_denoised_current(qtbot, w)
    processed = w.controller.worker.slices_processed
    w.set_slice(first)
    assert w.current["denoised"] is not None  # straight from the cache
    assert w.controller.worker.slices_processed == processed


def test_volume_denoise_runs_and_can_be_cancelled(qtbot, model_window, tmp_path):
    w = model_window
    open_and_wait(qtbot, w, write_nifti(tmp_path / "big.nii.gz", phantom((96, 96, 120), seed=2)))
    worker = w.controller.worker
    with qtbot.waitSignal(worker.volumeCancelled, timeout=60_000):
        assert w.denoise_volume()
        assert w.findChild(QPushButton, "cancelButton").isEnabled()
        w.findChild(QPushButton, "cancelButton").click()
    assert not w.volume_is_denoised()
    assert w.findChild(QPushButton, "denoiseVolumeButton").isEnabled()
    assert not w.findChild(QPushButton, "cancelButton").isEnabled()

    with qtbot.waitSignal(w.volumeMetricsReady, timeout=120_000):
        w.denoise_volume()
    assert w.volume_is_denoised()
    assert w.job_panel.progress.value() == 100
    assert "SSIM" in w.metrics_panel.volume_label.text()
    geom = w.data.geometry(w.session.axis)
    np.testing.assert_array_equal(w.panes["denoised"].image, geom.extract(w.data.denoised01, w.index))


def test_bad_file_shows_a_message_and_the_window_stays_usable(qtbot, window, tmp_path, small_file):
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"\x1f\x8b this is not a volume at all")
    with qtbot.waitSignal(window.errorShown, timeout=5000):
        assert not window.open_file(bad)
    title, reason, details = window.last_error
    assert "Could not open" in title and reason and "\n" not in reason
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and boxes[0].text() == reason
    for box in boxes:
        box.close()
    assert window.open_file(small_file)  # still usable
    assert window.panes["truth"].image is not None


def test_model_errors_are_messages_not_crashes(qtbot, window, tmp_path):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with qtbot.waitSignal(window.errorShown, timeout=120_000):
        window.load_model(empty)
    assert "model" in window.last_error[0].lower()
    assert window.model is None


def test_missing_bundled_model_is_reported_in_the_status_bar(window, monkeypatch, tmp_path):
    import mri_denoise_gui.resources as resources

    monkeypatch.setattr(resources, "default_model_dir", lambda: tmp_path / "nothing-here")
    assert not window.load_default_model()
    assert "No default model" in window.statusBar().currentMessage()
    assert window.last_error is None


def test_closing_with_a_running_worker_exits_cleanly(qtbot, make_window, settings, tiny_model_dir, tmp_path):
    w = make_window()
    with qtbot.waitSignal(w.modelReady, timeout=120_000):
        w.load_model(tiny_model_dir)
    open_and_wait(qtbot, w, write_nifti(tmp_path / "big.nii.gz", phantom((96, 96, 160), seed=3)))
    w.denoise_volume()
    qtbot.wait(50)
    t0 = time.perf_counter()
    w.close()
    assert w.controller.thread.isFinished()
    assert time.perf_counter() - t0 < 30


def test_keyboard_navigation(qtbot, window, small_file):
    window.open_file(small_file)
    n = window.data.geometry("axial").n_slices
    window.set_slice(5)
    qtbot.keyClick(window, Qt.Key.Key_Up)
    assert window.index == 6
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert window.index == 0
    qtbot.keyClick(window, Qt.Key.Key_End)
    assert window.index == n - 1
    assert window.slice_slider.value() == n - 1
    qtbot.keyClick(window, Qt.Key.Key_Home)
    assert window.index == 0
    window.compare.sliceStep.emit(1)  # what the mouse wheel sends
    assert window.index == 1
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.session.axis == "coronal" and window.axis_combo.currentData() == "coronal"


def test_cursor_readout_names_voxel_mm_and_values(window, small_file):
    window.open_file(small_file)
    geom = window.data.geometry("axial")
    window._on_cursor_moved(3, 4)
    text = window.cursor_label.text()
    i, j, k = geom.voxel(window.index, 3, 4)
    assert f"voxel ({i}, {j}, {k})" in text and "mm" in text
    assert f"file {float(window.data.volume.data[i, j, k]):.4g}" in text  # the raw value in the file
    assert f"truth {window.current['truth'][3, 4]:.3f}" in text and "noisy" in text

    window.panes["noisy"].cursorMoved.emit(3, 4)  # what the mouse sends: a crosshair in every pane
    row_mm, col_mm = geom.pixel_size
    for pane in (window.panes["noisy"], window.panes["truth"]):  # the panes with an image (no model here)
        vertical, horizontal = pane._cross
        assert vertical.isVisible() and vertical.value() == pytest.approx(4.5 * col_mm)
        assert horizontal.value() == pytest.approx(3.5 * row_mm)
    window.panes["noisy"].cursorLeft.emit()
    assert not window.panes["truth"]._cross[0].isVisible()
    assert window.cursor_label.text() == ""


def test_recent_files_and_settings_are_restored(make_window, settings, small_file):
    w = make_window()
    w.open_file(small_file)
    w.set_noise("gaussian", 0.004, 11)
    w.residual_action.setChecked(True)
    w.set_axis("coronal")
    w.close()
    w2 = make_window(settings)
    assert w2.recent_files()[0] == str(small_file.resolve())
    assert w2.noise_controls.settings().kind == "gaussian"
    assert w2.noise_controls.settings().seed == 11
    assert w2.compare.residual_visible and w2.session.axis == "coronal"
    assert any(a.text().endswith(small_file.name) for a in w2.recent_menu.actions())


def test_comparison_panes_are_restored_and_a_gone_model_is_left_out(make_window, settings, tiny_model_dir, tmp_path):
    import shutil

    model = tmp_path / "second"
    shutil.copytree(tiny_model_dir, model)
    w = make_window()
    w.add_comparison_pane("nlm")
    w.add_comparison_pane(f"model:{model}")
    w.close()
    w2 = make_window(settings)
    assert sorted(w2.pane_methods.values()) == sorted(["nlm", f"model:{model}"])
    w2.remove_comparison_pane(next(k for k, m in w2.pane_methods.items() if m == "nlm"))
    w2.close()
    shutil.rmtree(model)
    w3 = make_window(settings)
    assert list(w3.pane_methods.values()) == []  # nlm was closed; the model folder is gone
    assert str(model) in w3.statusBar().currentMessage()


def test_window_size_and_splitter_are_restored(qtbot, make_window, settings):
    w = make_window()
    w.resize(10, 560)  # the minimum width: it survives the offscreen platform's 800 px screen
    w.splitter.setSizes([500, 330])
    qtbot.wait(20)
    sizes = w.splitter.sizes()
    w.close()
    w2 = make_window(settings)
    qtbot.wait(20)
    assert (w2.width(), w2.height()) == (w.width(), 560)
    assert w2.splitter.sizes() == sizes


def test_residual_pane_shows_noisy_minus_denoised(qtbot, model_window, small_file):
    w = model_window
    w.residual_action.setChecked(True)
    w.open_file(small_file)
    wait_denoised_current(qtbot, w)
    np.testing.assert_allclose(w.panes["residual"].image, w.current["noisy"] - w.current["denoised"])
    lo, hi = w.panes["residual"].image_item.getLevels()
    assert lo == pytest.approx(-hi)


def test_training_menu_opens_the_dialog_and_close_stops_it(window):
    from mri_denoise_gui.qt.training_dialog import TrainingDialog

    window.open_training_dialog()
    dialog = window.findChild(TrainingDialog, "trainingDialog")
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    window.open_training_dialog()  # the same dialog again: one per window
    assert window.findChildren(TrainingDialog) == [dialog]
    window.close()  # the make_window fixture then checks every worker thread stopped
    for thread in window.findChildren(QThread):
        assert not thread.isRunning(), thread.objectName()


def test_importing_the_gui_does_not_import_tensorflow():
    code = ("import sys; import mri_denoise_gui.qt.main_window, mri_denoise_gui.qt.inference_worker, "
            "mri_denoise_gui.app; assert 'tensorflow' not in sys.modules, 'tensorflow imported'; "
            "assert 'keras' not in sys.modules, 'keras imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_importing_the_gui_leaves_scipy_and_scikit_image_filters_for_later():
    """They cost ~0.7 s before the window could be shown (the comparison menu and the no-reference
    panel imported core.baselines / core.noref); the app imports them in the background later."""
    code = ("import sys; import mri_denoise_gui.qt.main_window, mri_denoise_gui.qt.inference_worker, "
            "mri_denoise_gui.app; heavy = [m for m in ('scipy.stats', 'scipy.ndimage', 'skimage.restoration', "
            "'skimage.filters', 'skimage.metrics') if m in sys.modules]; assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_zoom_and_pan_are_linked_across_panes(qtbot, window, small_file):
    window.open_file(small_file)
    qtbot.wait(50)
    source = window.panes["truth"].view_box
    source.setRange(xRange=(5, 15), yRange=(10, 20), padding=0)
    qtbot.wait(50)
    expected = np.array(source.viewRange())
    for key in ("noisy", "denoised"):
        np.testing.assert_allclose(np.array(window.panes[key].view_box.viewRange()), expected, atol=1e-6)
    window.compare.reset_view()
    rect = window.panes["noisy"].image_rect()
    (x0, x1), (y0, y1) = window.panes["noisy"].view_box.viewRange()
    assert x0 <= rect.left() and x1 >= rect.right() and y0 <= rect.top() and y1 >= rect.bottom()


def test_slices_are_denoised_while_the_volume_is(qtbot, model_window, tmp_path):
    w = model_window
    open_and_wait(qtbot, w, write_nifti(tmp_path / "long.nii.gz", phantom((128, 128, 400), seed=6)))
    wait_denoised_current(qtbot, w)
    shown_during_job = []
    w.denoisedSliceShown.connect(lambda rid: shown_during_job.append(w._volume_job is not None))
    with qtbot.waitSignal(w.volumeDenoised, timeout=300_000):
        w.denoise_volume()
        qtbot.waitUntil(lambda: w.job_panel.progress.value() > 0, timeout=60_000)
        w.set_slice(3)
        wait_denoised_current(qtbot, w, timeout=60_000)
    assert shown_during_job and shown_during_job[0], "the slice waited for the whole volume"


def test_command_line_compare_panes_replace_the_restored_ones_for_this_run_only(make_window, settings, tiny_model_dir):
    from mri_denoise_gui.app import apply_command_line, build_parser

    w = make_window()
    w.add_comparison_pane("nlm")
    w.close()
    w2 = make_window(settings)
    assert apply_command_line(w2, build_parser().parse_args(["--compare", "tv", "--compare", str(tiny_model_dir)]))
    assert list(w2.pane_methods.values()) == ["tv", f"model:{tiny_model_dir.resolve()}"]
    w2.close()
    assert list(make_window(settings).pane_methods.values()) == ["nlm"]  # the stored choice is kept
    w4 = make_window(settings)
    assert not apply_command_line(w4, build_parser().parse_args(["--compare", "nonsense"]))
    assert list(w4.pane_methods.values()) == ["nlm"]
