"""Issue 12, window bugs found while using it: view fit, 4D export, noise like the CLI, settings
a run must not keep, clamped variance, a stale "Done"."""

from __future__ import annotations

import os
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from PyQt6.QtCore import QSettings, Qt

from mri_denoise_gui import cli
from mri_denoise_gui.app import apply_command_line, build_parser
from mri_denoise_gui.viewer.state import VARIANCE_MAX
from tests.conftest import phantom, write_nifti
from tests.qt.conftest import open_and_wait

PADDING = 0.02  # CompareView fits with this padding


def assert_fitted(window):
    """Every visible pane shows the whole slice, and fills the pane along one side."""
    for key, pane in window.panes.items():
        if not pane.isVisible() or pane.image is None:
            continue
        rect = pane.image_rect()
        (x0, x1), (y0, y1) = pane.view_box.viewRange()
        assert x0 <= rect.left() + 1e-6 and x1 >= rect.right() - 1e-6, key
        assert y0 <= rect.top() + 1e-6 and y1 >= rect.bottom() - 1e-6, key
        tight = 1 + 2 * PADDING + 0.01
        assert (x1 - x0) <= rect.width() * tight or (y1 - y0) <= rect.height() * tight, (key, rect, (x0, x1, y0, y1))


def test_a_new_volume_is_fitted_not_shown_in_the_old_field_of_view(qtbot, window, tmp_path):
    first = write_nifti(tmp_path / "first.nii.gz", phantom((64, 64, 40)))
    second = write_nifti(tmp_path / "second.nii.gz", phantom((20, 24, 16), seed=1))
    open_and_wait(qtbot, window, first)
    window.panes["truth"].view_box.setRange(xRange=(0, 10), yRange=(0, 10), padding=0)  # zoomed into a corner
    qtbot.wait(20)
    open_and_wait(qtbot, window, second)
    qtbot.wait(20)
    assert window.panes["noisy"].image.shape == window.data.geometry("axial").image_shape
    assert_fitted(window)


def test_residual_toggle_and_resizing_keep_the_images_fitted(qtbot, window, small_file):
    open_and_wait(qtbot, window, small_file)
    qtbot.wait(20)
    assert_fitted(window)
    for step in range(3):
        window.residual_action.setChecked(True)
        qtbot.wait(20)
        window.residual_action.setChecked(False)
        qtbot.wait(20)
        window.resize(700 + 150 * step, 500 + 80 * step)
        qtbot.wait(20)
    assert_fitted(window)


def test_a_one_volume_4d_file_is_exported_4d(qtbot, window, tmp_path):
    src = write_nifti(tmp_path / "one.nii.gz", phantom((16, 18, 12))[..., np.newaxis])
    assert nib.load(str(src)).shape == (16, 18, 12, 1)
    open_and_wait(qtbot, window, src)
    out = tmp_path / "one_noisy.nii.gz"
    with qtbot.waitSignal(window.exportFinished, timeout=30_000):
        assert window.export_volume("noisy", out)
    written = nib.load(str(out))
    assert written.shape == (16, 18, 12, 1) and int(written.header["dim"][0]) == 4
    np.testing.assert_array_equal(np.asarray(written.dataobj)[..., 0],
                                  window.data.normalizer.inverse(window.data.noisy01))


@pytest.mark.parametrize("kind", ["rician", "gaussian", "poisson", "localvar"])
def test_the_windows_noisy_volume_is_what_add_noise_writes(qtbot, window, tmp_path, kind):
    data = phantom((24, 28, 20), seed=4)
    data[5:7, 5:7, 5:7] = 1.6 * data.max()  # hot voxels far above the 99.5th percentile
    src = write_nifti(tmp_path / "hot.nii.gz", data, dtype=np.int16)
    before = src.read_bytes()
    open_and_wait(qtbot, window, src)
    with qtbot.waitSignal(window.noiseApplied, timeout=10_000):
        window.set_noise(kind, 0.004, 17)
    ours = tmp_path / "window_noisy.nii.gz"
    with qtbot.waitSignal(window.exportFinished, timeout=30_000):
        window.export_volume("noisy", ours)
    theirs = tmp_path / "cli_noisy.nii.gz"
    assert cli.main(["add-noise", str(src), str(theirs), "--kind", kind, "--variance", "0.004", "--seed", "17"]) == 0
    a = np.asarray(nib.load(str(ours)).dataobj)
    b = np.asarray(nib.load(str(theirs)).dataobj)
    np.testing.assert_array_equal(a, b)
    assert a.max() > np.percentile(data, 99.5) * 1.3  # the bright voxels were not capped
    assert src.read_bytes() == before


def _preset(path) -> QSettings:
    s = QSettings(str(path), QSettings.Format.IniFormat)
    for key, value in {"noise/kind": "gaussian", "noise/variance": 0.004, "noise/seed": 5,
                       "view/residual": False, "view/axis": "axial"}.items():
        s.setValue(key, value)
    s.sync()
    return s


def test_command_line_options_hold_for_that_run_only(make_window, tmp_path):
    ini = tmp_path / "user.ini"
    settings = _preset(ini)
    window = make_window(settings)
    args = build_parser().parse_args(["--variance", "0.02", "--seed", "9", "--residual", "--strength", "0.6"])
    assert apply_command_line(window, args)
    assert window.noise_controls.settings().variance == pytest.approx(0.02) and window.compare.residual_visible
    assert window.controller.strength == pytest.approx(0.6)  # what the model will be loaded at
    window.set_axis("sagittal")  # the user's own change in that run is remembered
    window.close()
    stored = QSettings(str(ini), QSettings.Format.IniFormat)
    assert float(stored.value("noise/variance")) == pytest.approx(0.004)
    assert int(stored.value("noise/seed")) == 5
    assert str(stored.value("view/residual")).lower() == "false"
    assert stored.value("view/axis") == "sagittal"
    assert stored.value("model/strength") is None


def test_a_screenshot_run_saves_no_settings(tmp_path, small_file):
    config = tmp_path / "cfg"
    ini = config / "mri-denoise-gui" / "mri-denoise-gui.ini"
    ini.parent.mkdir(parents=True)
    _preset(ini)
    before = ini.read_bytes()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(config))
    proc = subprocess.run([sys.executable, "-m", "mri_denoise_gui", str(small_file), "--model", str(tmp_path / "none"),
                           "--residual", "--variance", "0.02", "--axis", "coronal", "--screenshot",
                           str(tmp_path / "shot.png")], env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "shot.png").exists()
    assert ini.read_bytes() == before


def test_the_command_line_refuses_an_out_of_range_variance(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--variance", "0.3"])
    assert "variance must be in [0, 0.25]" in capsys.readouterr().err
    from mri_denoise_gui import app
    from mri_denoise_gui.viewer import state

    assert app.VARIANCE_MAX == state.VARIANCE_MAX


def test_a_typed_variance_out_of_range_is_clamped_and_said(qtbot, window, small_file):
    """Qt's own spin box dropped the '3' of 0.3 and silently used 0."""
    open_and_wait(qtbot, window, small_file)
    spin = window.noise_controls.variance_spin
    spin.setFocus()
    spin.selectAll()
    with qtbot.waitSignal(window.noise_controls.notice, timeout=5000) as notice:
        qtbot.keyClicks(spin, "0.3")
        qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert "0.3" in notice.args[0] and "0.25" in notice.args[0]
    assert window.statusBar().currentMessage() == notice.args[0]
    assert spin.value() == pytest.approx(VARIANCE_MAX)
    qtbot.waitUntil(lambda: window.session.noise.variance == pytest.approx(VARIANCE_MAX), timeout=10_000)

    window.set_noise(variance=0.5, apply=False)  # from code: clamped the same way, and said
    assert spin.value() == pytest.approx(VARIANCE_MAX)
    assert "out of range" in window.statusBar().currentMessage() and "0.5" in window.statusBar().currentMessage()


def test_done_goes_when_the_volume_is_no_longer_denoised(qtbot, model_window, small_file):
    w = model_window
    open_and_wait(qtbot, w, small_file)
    with qtbot.waitSignal(w.volumeDenoised, timeout=120_000):
        w.denoise_volume()
    assert w.job_panel.progress.format() == "Done" and w.job_panel.progress.value() == 100
    with qtbot.waitSignal(w.noiseApplied, timeout=10_000):
        w.set_noise(seed=w.session.noise.seed + 1)
    assert not w.volume_is_denoised()
    assert w.job_panel.progress.format() != "Done" and w.job_panel.progress.value() == 0
