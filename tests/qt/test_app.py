"""The `mri-denoise-gui` entry point: options, --screenshot, start-up without TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PyQt6.QtGui import QImage

from mri_denoise_gui.app import build_parser


def test_parser_takes_the_documented_options():
    args = build_parser().parse_args(
        ["scan.nii.gz", "--model", "m", "--noise-kind", "gaussian", "--variance", "0.01", "--seed", "3",
         "--axis", "coronal", "--slice", "7", "--screenshot", "out.png"])
    assert (args.file, args.model, args.noise_kind, args.variance, args.seed, args.axis, args.slice,
            args.screenshot) == ("scan.nii.gz", "m", "gaussian", 0.01, 3, "coronal", 7, "out.png")
    assert build_parser().parse_args(["--demo"]).demo
    from mri_denoise_gui import app
    from mri_denoise_gui.core.noise import NOISE_KINDS
    from mri_denoise_gui.core.orientation import AXIS_NAMES

    assert app.KINDS == NOISE_KINDS and app.AXES == AXIS_NAMES
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--noise-kind", "salt"])


def _run(args, tmp_path, timeout=240):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    return subprocess.run([sys.executable, "-m", "mri_denoise_gui", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_screenshot_waits_for_the_denoised_slice_and_exits_0(tmp_path, small_file, tiny_model_dir):
    out = tmp_path / "shot.png"
    proc = _run([str(small_file), "--model", str(tiny_model_dir), "--axis", "coronal", "--slice", "5",
                 "--noise-kind", "gaussian", "--variance", "0.01", "--seed", "2", "--screenshot", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "saving the screenshot anyway" not in proc.stderr, proc.stderr[-1500:]  # it saw a denoised slice
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1280, 800)


def test_screenshot_without_a_model_still_exits_0(tmp_path, small_file):
    out = tmp_path / "shot.png"
    proc = _run([str(small_file), "--model", str(tmp_path / "no-model"), "--screenshot", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.exists()


def test_the_window_is_shown_before_tensorflow_is_imported(tmp_path):
    code = ("import os, sys; os.environ['MRI_DENOISE_GUI_EXIT_AFTER_SHOW'] = '1';"
            "from mri_denoise_gui.app import main; rc = main([]);"
            "assert rc == 0, rc; assert 'tensorflow' not in sys.modules, 'TensorFlow imported before show'")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "window_shown_at=" in proc.stdout


def test_without_a_display_the_app_says_so_instead_of_aborting():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "-m", "mri_denoise_gui", "--demo"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "no display found" in proc.stderr and "Traceback" not in proc.stderr
