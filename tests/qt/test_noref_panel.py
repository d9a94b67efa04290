"""Quality without a reference: a noisy scan with no ground truth shows core.noref's figures."""

from __future__ import annotations

import numpy as np
import pytest

from mri_denoise_gui.core import noref
from mri_denoise_gui.viewer.noref_figures import ROWS
from mri_denoise_gui.viewer.state import file_order_slice
from tests.conftest import phantom, rician_scan, write_nifti
from tests.qt.conftest import open_and_wait, wait_denoised_current


@pytest.fixture
def noisy_scan(tmp_path):
    return rician_scan(tmp_path / "scan.nii.gz", (40, 44, 12), 40.0, seed=4)


def _matches(figures: dict, report: dict, keys) -> None:
    for key in keys:
        assert figures[key] == pytest.approx(report[key]["volume"], rel=1e-9, nan_ok=True), key


def test_reference_free_figures_of_a_noisy_scan_match_core_noref(qtbot, model_window, noisy_scan):
    w = model_window
    open_and_wait(qtbot, w, noisy_scan, as_noisy=True)
    assert not w.data.has_truth
    assert w.noref_panel.isVisibleTo(w) and not w.metrics_panel._table.isVisibleTo(w)
    w.set_slice(6)
    wait_denoised_current(qtbot, w)
    qtbot.waitUntil(lambda: w.noref_slice is not None and "sigma_out" in w.noref_slice, timeout=30_000)
    noisy, den = w.current["noisy"], w.current["denoised"]
    report = noref.noref_report(noisy, den)
    _matches(w.noref_slice, report, ROWS)
    assert w.noref_slice["sigma"] > 0.01  # the scan is noisy: the figure is measured, not a placeholder
    # SURE of the model on this very slice, asked of the inference thread: the same figure core.noref gives
    qtbot.waitUntil(lambda: w.noref_sure["slice"] is not None, timeout=60_000)
    file_slice = file_order_slice(w.data.noisy01, w.data.geometry(w.session.axis), 6)[None]
    sigma = report["sigma"]["volume"]
    with qtbot.waitSignal(w.controller.worker.modelCallDone, timeout=60_000) as direct:
        w.controller.run_with_model(lambda d: noref.sure_mse(file_slice, d.denoise_slices01, sigma, axis=0,
                                                           rician=True)["psnr"])
    assert w.noref_sure["slice"] == pytest.approx(direct.args[1], rel=1e-9)
    panel = w.noref_panel
    assert panel.slice_labels["sure_mse"].text() == f"{direct.args[1]:.2f} dB"
    assert panel.slice_labels["sigma"].text() == f"{report['sigma']['volume']:.4f}"
    for key in ROWS:  # every figure explains itself in one sentence
        assert panel.name_labels[key].toolTip() == noref.DESCRIPTIONS[key]
        assert panel.slice_labels[key].toolTip() == noref.DESCRIPTIONS[key]

    with qtbot.waitSignal(w.norefVolumeReady, timeout=120_000,
                          check_params_cb=lambda figures: "sigma_out" in figures) as ready:
        assert w.denoise_volume()
    data = w.data
    axis = w.session.denoised_axis
    _matches(ready.args[0], noref.noref_report(data.noisy01, data.denoised01, axis=axis), ROWS)
    assert panel.volume_labels["residual_ratio"].text() == f"{ready.args[0]['residual_ratio']:.2f}"
    qtbot.waitUntil(lambda: w.noref_sure["volume"] is not None, timeout=60_000)
    assert panel.volume_labels["sure_mse"].text() == f"{w.noref_sure['volume']:.2f} dB"
    assert np.isfinite(w.noref_sure["volume"])


def test_no_reference_figures_leave_when_a_reference_is_attached(qtbot, window, noisy_scan, tmp_path, tiny_model_dir):
    w = window
    with qtbot.waitSignal(w.norefVolumeReady, timeout=60_000) as ready:
        open_and_wait(qtbot, w, noisy_scan, as_noisy=True)
    assert ready.args[0]["sigma"] == pytest.approx(noref.estimate_sigma(w.data.noisy01, axis=2), rel=1e-9)
    w.update_slice_metrics(wait=True)
    assert w.noref_slice is not None and "sigma_out" not in w.noref_slice  # no model: the input's sigma only
    with qtbot.waitSignal(w.norefVolumeReady, timeout=120_000) as again:  # a model changes nothing of the input's
        w.load_model(tiny_model_dir)
    assert again.args[0] is ready.args[0]  # reused, not computed again
    ref = write_nifti(tmp_path / "ref.nii.gz", phantom((40, 44, 12), seed=4), affine=np.diag([1.0, 1.0, 2.0, 1.0]))
    assert w.attach_reference(ref) is not False
    qtbot.waitUntil(lambda: w.data.has_truth, timeout=30_000)
    assert not w.noref_panel.isVisibleTo(w) and w.metrics_panel._table.isVisibleTo(w)


def test_a_clean_volume_shows_no_reference_free_panel(qtbot, window, small_file):
    open_and_wait(qtbot, window, small_file)
    assert not window.noref_panel.isVisibleTo(window) and window.noref_slice is None
