"""Model > Adapt to this scan...: a tiny model adapted end to end through the dialog, then used."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PyQt6.QtWidgets import QMessageBox

from mri_denoise_gui.core import noref
from tests.conftest import rician_scan
from tests.qt.conftest import MODEL_TIMEOUT_MS, open_and_wait

ADAPT_TIMEOUT_MS = 300_000


@pytest.fixture
def noisy_scan(tmp_path):
    return rician_scan(tmp_path / "scan.nii.gz", (40, 40, 16), 70.0, seed=2)


def _open_dialog(qtbot, window):
    dialog = window.open_adapt_dialog()
    assert dialog is not None and dialog.objectName() == "adaptDialog"
    qtbot.waitUntil(lambda: dialog.worker_ready, timeout=MODEL_TIMEOUT_MS)
    return dialog


def test_adapt_a_tiny_model_through_the_dialog_and_use_it(qtbot, model_window, noisy_scan, tmp_path, tiny_model_dir):
    w = model_window
    open_and_wait(qtbot, w, noisy_scan, as_noisy=True)
    dialog = _open_dialog(qtbot, w)
    qtbot.waitUntil(lambda: dialog.sigma_estimate is not None, timeout=30_000)
    # the estimate shown is core.noref's on the volume the window holds (tissue vs background, the smaller)
    assert dialog.sigma_estimate == pytest.approx(
        min(noref.estimate_sigma(w.data.noisy01, axis=2),
            noref.background_sigma(w.data.volume.data, axis=2) / w.data.normalizer.scale), rel=1e-6)
    assert "scan.nii.gz" in dialog.context_label.text() and "noisy scan" in dialog.context_label.text()
    assert dialog.noise_combo.currentData() == "rician"  # a real scan opened as noisy: a magnitude image

    out = tmp_path / "adapted"
    dialog.out_edit.setText(str(out))
    # an untrained tiny net gains faster from plain targets than from targets with the Rician floor
    # taken out (50 steps on this scan: +0.17 vs -0.65 dB true tissue PSNR), and this test is about
    # the dialog; the noise models are compared in benchmarks/adapt_probe.py with the shipped default
    dialog.noise_combo.setCurrentIndex(dialog.noise_combo.findData("gaussian"))
    assert dialog.config()["noise"] == "gaussian"
    dialog.steps_spin.setValue(50)
    dialog.minutes_spin.setValue(0.1)
    dialog._update_state()
    assert dialog.start_button.isEnabled(), dialog.status_label.text()
    with qtbot.waitSignal(dialog.adaptFinished, timeout=ADAPT_TIMEOUT_MS) as finished:
        assert dialog.start()
        assert dialog.is_running() and not dialog.start_button.isEnabled()
        w.set_slice(3)  # the window stays usable while the model adapts
    result = finished.args[0]
    assert not result["cancelled"] and result["steps_run"] >= 1
    assert dialog.panel.curves.series["loss"], "no epoch reached the curves"
    assert "self-supervised loss" in dialog.panel.log_view.toPlainText()
    assert "SSIM" not in dialog.panel.log_view.toPlainText()  # no reference: no SSIM to report
    assert dialog.result_label.isVisible() and "dB" in dialog.result_label.text()
    assert result["kept"], f"the guard kept the starting model: {result}"  # a random tiny net gains by adapting
    assert result["folder"] == str(out.resolve()) and (out / "model.json").is_file()
    assert dialog.use_button.isEnabled()
    with qtbot.waitSignal(w.modelReady, timeout=MODEL_TIMEOUT_MS):
        dialog.use_button.click()
    assert w.model["folder"] == str(out.resolve())
    # the window's no-reference panel shows the guard's SURE estimate of the model now in use
    qtbot.waitUntil(lambda: w.noref_panel.volume_labels["sure_mse"].text() != "—", timeout=30_000)
    assert w.noref_panel.volume_labels["sure_mse"].text() == f"{result['estimated_psnr']['adapted']:.2f} dB"
    assert (tiny_model_dir / "model.json").is_file()  # the starting model is untouched


def test_adapt_refuses_a_folder_it_did_not_write_and_cancels_cleanly(qtbot, model_window, noisy_scan, tmp_path):
    w = model_window
    open_and_wait(qtbot, w, noisy_scan, as_noisy=True)
    dialog = _open_dialog(qtbot, w)
    keep = tmp_path / "someone"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    dialog.out_edit.setText(str(keep))
    dialog._update_state()
    assert not dialog.start_button.isEnabled() and "someone" in dialog.status_label.text()
    assert not dialog.start()

    dialog.out_edit.setText(str(tmp_path / "never"))
    dialog.steps_spin.setValue(100_000)
    dialog.minutes_spin.setValue(30)
    with qtbot.waitSignal(dialog.adaptFinished, timeout=ADAPT_TIMEOUT_MS) as finished:
        assert dialog.start()
        qtbot.waitUntil(lambda: dialog.panel.batch_bar.value() > 0, timeout=ADAPT_TIMEOUT_MS)
        dialog.cancel_button.click()
    assert finished.args[0]["cancelled"] and finished.args[0]["folder"] is None
    assert not (tmp_path / "never").exists() and (keep / "notes.txt").read_text() == "mine"
    assert "Cancelled" in dialog.result_label.text() and not dialog.use_button.isEnabled()


def test_a_simulated_noisy_volume_is_adapted_from_a_temporary_copy(qtbot, model_window, small_file):
    w = model_window
    dialog = _open_dialog(qtbot, w)
    open_and_wait(qtbot, w, small_file)  # the dialog follows the window
    qtbot.waitUntil(lambda: "simulated noisy volume" in dialog.context_label.text(), timeout=30_000)
    qtbot.waitUntil(lambda: dialog.sigma_estimate is not None, timeout=30_000)
    assert dialog.sigma_estimate == pytest.approx(noref.estimate_sigma(w.data.noisy01, axis=2), rel=1e-6)
    dialog.sigma_spin.setValue(0.0123)  # an edited sigma is what the run uses
    config = dialog.config()
    path = Path(config["files"][0])
    assert path != small_file and path.name == "simulated_noisy.nii" and config["sigma"] == pytest.approx(0.0123)
    assert np.array_equal(nib.load(str(path)).get_fdata(dtype=np.float32), w.data.noisy01)
    assert config["init_from"] == w.model["folder"] and config["method"] == "r2r"
    assert Path(config["out"]).name == "small_adapted" and not Path(config["out"]).exists()
    # the noise model follows the noise the window added: Rician (its default) then Gaussian
    assert config["noise"] == "rician"
    with qtbot.waitSignal(w.noiseApplied, timeout=30_000):
        w.set_noise(kind="gaussian")
    assert dialog.noise_combo.currentData() == "gaussian" and dialog.config()["noise"] == "gaussian"


def test_adapt_needs_a_volume_and_a_model(qtbot, window):
    dialog = window.open_adapt_dialog()
    dialog._update_state()
    assert not dialog.start_button.isEnabled() and not dialog.start()
    assert "open a volume" in dialog.status_label.text() or "TensorFlow" in dialog.status_label.text()
    assert dialog.problem() == "open a volume first"


def test_closing_the_window_stops_an_adaptation(qtbot, model_window, noisy_scan, tmp_path):
    w = model_window
    open_and_wait(qtbot, w, noisy_scan, as_noisy=True)
    dialog = _open_dialog(qtbot, w)
    dialog.out_edit.setText(str(tmp_path / "never"))
    dialog.steps_spin.setValue(100_000)
    dialog.minutes_spin.setValue(30)
    assert dialog.start()
    qtbot.waitUntil(lambda: dialog.panel.batch_bar.value() > 0, timeout=ADAPT_TIMEOUT_MS)
    assert w._training_running()
    w.close()  # asks first: the run is work the user may want
    box = w.findChild(QMessageBox, "stopTrainingOnCloseBox")
    assert w.isVisible() and box is not None and box.isVisible()
    box.button(QMessageBox.StandardButton.Yes).click()
    assert not w.isVisible() and dialog.controller.thread is None
    assert dialog.controller.worker.runs_done == 1 and not (tmp_path / "never").exists()


def test_the_verdict_names_the_winner_and_the_margin():
    from mri_denoise_gui.qt.adapt_report import verdict_text

    base = {"sigmas": [0.05], "steps_run": 600, "seconds": 30.0, "cancelled": False}
    kept = verdict_text({**base, "kept": True, "winner": "adapted", "gain_db": 0.43,
                         "estimated_psnr": {"start": 32.69, "adapted": 33.12}})
    assert "adapted model won" in kept and "+0.43 dB" in kept and "32.69 → 33.12" in kept
    stayed = verdict_text({**base, "kept": False, "winner": "non-local means", "gain_db": -0.2,
                           "estimated_psnr": {"start": 30.0, "adapted": 29.8}})
    assert "starting model stays" in stayed and "-0.20 dB" in stayed and "non-local means" in stayed
    assert "nothing was written" in verdict_text({**base, "cancelled": True})
