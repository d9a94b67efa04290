"""Issue 16 through the real window: method panes, per-method scores, error map, small tools."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
from PyQt6.QtWidgets import QComboBox, QLabel, QLineEdit, QTableWidget, QToolButton, QWidget

from mri_denoise_gui.core import baselines
from mri_denoise_gui.core import metrics as core_metrics
from mri_denoise_gui.viewer.comparison import NETWORK
from tests.qt.conftest import wait_denoised_current


def _row(table: QTableWidget, label: str) -> list[str]:
    for r in range(table.rowCount()):
        if table.item(r, 0).text() == label:
            return [table.item(r, c).text() for c in range(table.columnCount())]
    raise AssertionError(f"no row {label!r} in {[table.item(r, 0).text() for r in range(table.rowCount())]}")


def _wait_method(qtbot, w, key):
    qtbot.waitUntil(lambda: w.panes[key].image is not None and "working" not in w.panes[key].title.text(),
                    timeout=60_000)


def test_nlm_pane_shows_core_baseline_and_its_scores(qtbot, model_window, small_file):
    w = model_window
    assert w.open_file(small_file)
    wait_denoised_current(qtbot, w)
    key = w.add_comparison_pane("nlm")
    assert w.findChild(QWidget, f"{key}View") is not None
    _wait_method(qtbot, w, key)
    noisy, truth = w.current["noisy"], w.current["truth"]
    expected = baselines.nlm_denoise(noisy)
    np.testing.assert_allclose(w.panes[key].image, expected, atol=1e-6)

    table = w.findChild(QTableWidget, "methodMetricsTable")
    psnr = core_metrics.psnr(truth, expected)
    ssim = core_metrics.ssim(truth, expected)
    qtbot.waitUntil(lambda: _row(table, "NLM")[2] == f"{psnr:.2f}", timeout=30_000)
    row = _row(table, "NLM")
    assert row[1] == f"{ssim:.4f}"
    gain = psnr - core_metrics.psnr(truth, noisy)
    assert row[3] == f"{gain:.2f}"
    assert _row(table, "Network")[2] == f"{core_metrics.psnr(truth, w.current['denoised']):.2f}"

    # a new slice: the pane follows (latest wins), and the window / level is shared
    w.set_slice(w.index + 1)
    _wait_method(qtbot, w, key)
    np.testing.assert_allclose(w.panes[key].image, baselines.nlm_denoise(w.current["noisy"]), atol=1e-6)
    w.compare.set_levels(0.1, 0.7)
    assert tuple(w.panes[key].image_item.levels) == (0.1, 0.7)
    # zoom links to the new pane
    w.panes["noisy"].view_box.setRange(xRange=(2, 10), yRange=(2, 10), padding=0)
    np.testing.assert_allclose(w.panes[key].view_box.targetRange(), w.panes["noisy"].view_box.targetRange())


def test_second_classical_pane_and_error_map(qtbot, model_window, small_file):
    w = model_window
    assert w.open_file(small_file)
    wait_denoised_current(qtbot, w)
    a, b = w.add_comparison_pane("wavelet"), w.add_comparison_pane("tv")
    _wait_method(qtbot, w, a)
    _wait_method(qtbot, w, b)
    assert w.panes[a].isVisible() and w.panes[b].isVisible()
    np.testing.assert_allclose(w.panes[b].image, baselines.tv_denoise(w.current["noisy"]), atol=1e-6)

    w.error_action.setChecked(True)
    error = w.findChild(QWidget, "errorView")
    assert error.isVisible()
    np.testing.assert_allclose(w.panes["error"].image, np.abs(w.current["denoised"] - w.current["truth"]), atol=1e-6)
    w.set_error_method("tv")
    np.testing.assert_allclose(w.panes["error"].image, np.abs(w.panes[b].image - w.current["truth"]), atol=1e-6)
    assert w.compare.error_bar.levels()[0] == 0.0
    # the pane's own combo switches its method; its close button removes it
    combo = w.findChild(QComboBox, f"{a}MethodCombo")
    combo.setCurrentIndex(combo.findData("nlm"))
    assert w.pane_methods[a] == "nlm"
    _wait_method(qtbot, w, a)
    np.testing.assert_allclose(w.panes[a].image, baselines.nlm_denoise(w.current["noisy"]), atol=1e-6)
    w.findChild(QToolButton, f"{a}CloseButton").click()
    assert a not in w.panes and a not in w.pane_methods


def test_denoise_volume_runs_every_shown_method_and_exports_maps(qtbot, model_window, small_file, tmp_path):
    w = model_window
    assert w.open_file(small_file)
    wait_denoised_current(qtbot, w)
    key = w.add_comparison_pane("tv")
    with qtbot.waitSignal(w.volumeDenoised, timeout=60_000):
        w.denoise_volume()
    qtbot.waitUntil(lambda: "tv" in w.method_scores, timeout=60_000)
    data = w.data
    axis = int(data.geometry(w.session.axis).file_axis)
    expected = core_metrics.volume_metrics(data.truth01, baselines.tv_denoise(data.noisy01, axis=axis))
    assert w.method_scores["tv"]["psnr"] == expected["psnr"]
    table = w.findChild(QTableWidget, "methodMetricsTable")
    qtbot.waitUntil(lambda: _row(table, "TV")[5] == f"{expected['psnr']:.2f}", timeout=30_000)

    out = tmp_path / "err.nii.gz"
    with qtbot.waitSignal(w.exportFinished, timeout=30_000):
        assert w.export_difference("error", out)
    inv = data.normalizer.inverse
    np.testing.assert_allclose(nib.load(out).get_fdata(), np.abs(inv(data.denoised01) - inv(data.truth01)), atol=1e-3)
    res = tmp_path / "res.nii.gz"
    with qtbot.waitSignal(w.exportFinished, timeout=30_000):
        assert w.export_difference("residual", res)
    np.testing.assert_allclose(nib.load(res).get_fdata(), inv(data.noisy01) - inv(data.denoised01), atol=1e-3)
    assert "residual" in json.loads(res.with_name("res.json").read_text())["content"]
    tv_err = tmp_path / "tv_err.nii.gz"
    with qtbot.waitSignal(w.exportFinished, timeout=30_000):
        assert w.export_difference("error", tv_err, "tv")
    np.testing.assert_allclose(nib.load(tv_err).get_fdata(), np.abs(inv(w.method_volumes["tv"][1]) - inv(data.truth01)),
                               atol=1e-3)
    assert json.loads(tv_err.with_name("tv_err.json").read_text())["method"] == "tv"
    assert w.panes[key].image is not None


def test_export_error_map_needs_the_whole_volume(model_window, small_file, tmp_path):
    w = model_window
    assert w.open_file(small_file)
    assert not w.export_difference("error", tmp_path / "e.nii.gz")
    assert "Denoise whole volume" in w.last_error[1]
    assert not list(tmp_path.glob("e*"))


def test_typed_noise_level_screenshot_counter_and_colour_bars(qtbot, window, small_file, tmp_path):
    w = window
    assert w.open_file(small_file)
    edit = w.findChild(QLineEdit, "noiseLevelEdit")
    edit.setText("5%")
    edit.returnPressed.emit()
    assert abs(w.noise_controls.variance_spin.value() - 0.0025) < 1e-9
    edit.setText("σ 0.1")
    edit.returnPressed.emit()
    assert abs(w.noise_controls.variance_spin.value() - 0.01) < 1e-9
    edit.setText("loud")
    edit.returnPressed.emit()
    assert abs(w.noise_controls.variance_spin.value() - 0.01) < 1e-9  # unreadable: nothing changed
    assert "cannot read noise level" in w.statusBar().currentMessage()
    edit.setText("90%")
    edit.returnPressed.emit()
    assert w.noise_controls.variance_spin.value() == w.noise_controls.variance_spin.maximum()
    assert "out of range" in w.statusBar().currentMessage()

    counter = w.findChild(QLabel, "sliceCountLabel")
    n = w.data.geometry(w.session.axis).n_slices
    w.set_slice(3)
    assert counter.text() == f"slice 4 of {n}"

    w.colour_bar_action.setChecked(True)
    w.compare.set_levels(0.2, 0.6)
    assert tuple(w.panes["noisy"].colour_bar.levels()) == (0.2, 0.6)

    shot = tmp_path / "shot.png"
    assert w.save_screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.part*"))


def test_network_method_pane(qtbot, model_window, small_file):
    w = model_window
    assert w.open_file(small_file)
    wait_denoised_current(qtbot, w)
    key = w.add_comparison_pane(NETWORK)
    np.testing.assert_array_equal(w.panes[key].image, w.current["denoised"])


def test_rect_and_ellipse_roi_stats_in_every_pane(qtbot, model_window, small_file):
    from mri_denoise_gui.viewer.comparison import roi_mask

    w = model_window
    assert w.open_file(small_file)
    wait_denoised_current(qtbot, w)
    key = w.add_comparison_pane("tv")
    _wait_method(qtbot, w, key)
    px = w.data.geometry(w.session.axis).pixel_size
    # rows 10..19, cols 8..19 in millimetres
    w.add_roi("rect", "noisy", pos=(8 * px[1], 10 * px[0]), size=(12 * px[1], 10 * px[0]))
    for pane in ("noisy", "denoised", "truth", key):
        pixels = w.panes[pane].image[10:20, 8:20]
        assert w.roi_stats[pane]["n"] == pixels.size
        assert w.roi_stats[pane]["mean"] == float(np.mean(pixels.astype(np.float64)))
        assert abs(w.roi_stats[pane]["sd"] - float(np.std(pixels.astype(np.float64)))) < 1e-12
    label = w.findChild(QLabel, "roiStatsLabel").text()
    assert f"{np.mean(w.panes['truth'].image[10:20, 8:20].astype(np.float64)):.4f}" in label

    roi = w.add_roi("ellipse", "denoised", pos=(4.0, 6.0), size=(10.0, 12.0))
    mask = roi_mask(w.panes["noisy"].image.shape, px, "ellipse", (4.0, 6.0), (10.0, 12.0))
    assert 0 < mask.sum() < mask.size
    assert w.roi_stats["noisy"]["mean"] == float(np.mean(w.panes["noisy"].image[mask].astype(np.float64)))
    roi.setPos((6.0, 6.0))  # dragging updates the numbers
    mask = roi_mask(w.panes["noisy"].image.shape, px, "ellipse", (6.0, 6.0), (10.0, 12.0))
    assert w.roi_stats["truth"]["mean"] == float(np.mean(w.panes["truth"].image[mask].astype(np.float64)))
    w.clear_rois()
    assert not w.rois


def test_line_profile_has_the_line_length_in_every_pane(qtbot, model_window, small_file):
    w = model_window
    assert w.open_file(small_file)
    wait_denoised_current(qtbot, w)
    px = w.data.geometry(w.session.axis).pixel_size
    row = 12
    # a horizontal line through the centres of pixels (row, 3) .. (row, 23): 21 samples
    y = (row + 0.5) * px[0]
    w.add_roi("line", "noisy", pos=(3.5 * px[1], y), size=(20 * px[1], 0.0))
    plot = w.findChild(QWidget, "profilePlot")
    assert plot.isVisible()
    for pane in ("noisy", "denoised", "truth"):
        np.testing.assert_array_equal(w.profiles[pane], w.panes[pane].image[row, 3:24])
    assert len(plot.getPlotItem().listDataItems()) == 3


def test_second_model_pane_runs_in_the_inference_thread(qtbot, model_window, small_file):
    from mri_denoise_gui.ml.inference import Denoiser
    from mri_denoise_gui.resources import seed_model_dir
    from mri_denoise_gui.viewer.state import display_from_file_slice, file_order_slice

    w = model_window
    assert w.open_file(small_file)
    wait_denoised_current(qtbot, w)
    seed = seed_model_dir()
    method = f"model:{seed}"
    key = w.add_comparison_pane(method)
    _wait_method(qtbot, w, key)
    geom = w.data.geometry(w.session.axis)
    expected = display_from_file_slice(
        Denoiser.load(seed).denoise_slice01(file_order_slice(w.data.noisy01, geom, w.index)), geom, w.index)
    np.testing.assert_allclose(w.panes[key].image, expected, atol=1e-5)
    assert w.extra_models.thread() is w.controller.thread

    table = w.findChild(QTableWidget, "methodMetricsTable")
    psnr = core_metrics.psnr(w.current["truth"], w.panes[key].image)
    qtbot.waitUntil(lambda: _row(table, seed.name)[2] == f"{psnr:.2f}", timeout=30_000)

    with qtbot.waitSignal(w.volumeDenoised, timeout=60_000):
        w.denoise_volume()
    qtbot.waitUntil(lambda: method in w.method_scores, timeout=120_000)
    assert np.isfinite(w.method_scores[method]["psnr"])


def test_second_models_run_in_the_precision_the_window_chose():
    """Model > Precision applies to comparison models too, and a change reloads them."""
    from mri_denoise_gui.qt.extra_models import ExtraModelWorker
    from mri_denoise_gui.resources import seed_model_dir

    chosen = ["float32"]
    worker = ExtraModelWorker(lambda: chosen[0])
    folder = str(seed_model_dir())
    assert worker._model(folder, 1.0).precision == "float32"
    chosen[0] = "bfloat16"
    assert worker._model(folder, 1.0).precision == "bfloat16"
    assert len(worker._models) == 1  # the float32 copy was dropped
    assert worker._model(folder, 0.5).strength == 1.0  # the seed has no noise-level input: runs at 1


def test_a_folder_without_a_model_is_refused_with_a_message(model_window, small_file, tmp_path):
    w = model_window
    assert w.open_file(small_file)
    w._add_model_pane(tmp_path)
    assert "not a model folder" in w.last_error[1]
    assert not w.compare.method_panes


def test_masked_scores_per_method(qtbot, model_window, small_file):
    w = model_window
    assert w.open_file(small_file)
    wait_denoised_current(qtbot, w)
    w.add_comparison_pane("tv")
    with qtbot.waitSignal(w.volumeDenoised, timeout=60_000):
        w.denoise_volume()
    qtbot.waitUntil(lambda: "tv" in w.method_scores, timeout=60_000)
    whole = w.method_scores["tv"]["psnr"]
    w.metrics_panel.mask_check.setChecked(True)
    qtbot.waitUntil(lambda: "tv" in w.method_scores, timeout=60_000)
    data = w.data
    expected = core_metrics.volume_metrics(data.truth01, w.method_volumes["tv"][1], data.foreground())
    assert w.method_scores["tv"]["psnr"] == expected["psnr"] != whole
    table = w.findChild(QTableWidget, "methodMetricsTable")
    mask = np.ascontiguousarray(data.geometry(w.session.axis).extract(data.foreground(), w.index))
    psnr = core_metrics.psnr(w.current["truth"], w.current["noisy"], mask)
    qtbot.waitUntil(lambda: _row(table, "Noisy")[2] == f"{psnr:.2f}", timeout=30_000)


def test_rois_saved_to_a_file_come_back_on_another_scan(qtbot, model_window, small_file, tmp_path):
    w = model_window
    assert w.open_file(small_file)
    wait_denoised_current(qtbot, w)
    px = w.data.geometry(w.session.axis).pixel_size
    w.add_roi("rect", "denoised", pos=(8 * px[1], 10 * px[0]), size=(12 * px[1], 10 * px[0]))
    w.add_roi("line", "noisy", pos=(3.5 * px[1], 12.5 * px[0]), size=(20 * px[1], 0.0))
    stats, profile = dict(w.roi_stats["truth"]), w.profiles["truth"].copy()
    assert w.save_rois(tmp_path / "regions")  # the .json suffix is added
    saved = json.loads((tmp_path / "regions.json").read_text())
    assert [r["kind"] for r in saved["rois"]] == ["rect", "line"] and {r["axis"] for r in saved["rois"]} == {"axial"}
    w.clear_rois()
    w.set_axis("coronal")  # the file says where its ROIs were drawn
    assert w.load_rois(tmp_path / "regions.json")
    assert w.session.axis == "axial" and [(k, p) for k, p, _ in w.rois] == [("rect", "denoised"), ("line", "noisy")]
    assert w.roi_stats["truth"] == stats
    np.testing.assert_array_equal(w.profiles["truth"], profile)
    (tmp_path / "bad.json").write_text("{}")
    assert not w.load_rois(tmp_path / "bad.json")
    assert len(w.rois) == 2 and "not a regions-of-interest file" in w.last_error[1]  # nothing lost
    w.clear_rois()
    assert not w.save_rois(tmp_path / "none.json") and not (tmp_path / "none.json").exists()
    assert "no ROIs to save" in w.last_error[1]
