"""Help > About and the app icon: versions named, device shown, icon loads, no TensorFlow import."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata

import pytest

pytest.importorskip("PyQt6.QtWidgets")

from PyQt6.QtCore import PYQT_VERSION_STR, QT_VERSION_STR, QSize  # noqa: E402

from mri_denoise_gui import __version__  # noqa: E402
from mri_denoise_gui.qt import about  # noqa: E402


def test_about_html_names_versions_and_device():
    text = about.about_html("GPU: Test Card 9000")
    assert __version__ in text
    for label in ("Python", "TensorFlow", "Keras", "Qt", "pyqtgraph", "nibabel", "NumPy"):
        assert label in text
    assert QT_VERSION_STR in text and PYQT_VERSION_STR in text
    assert metadata.version("keras") in text
    try:
        assert metadata.version("tensorflow") in text
    except metadata.PackageNotFoundError:
        pass  # another TensorFlow distribution (tensorflow-cpu ...) is fine too
    assert metadata.version("numpy") in text and metadata.version("nibabel") in text
    assert "GPU: Test Card 9000" in text
    assert "MNI" in text and "BSD-3-Clause" in text


def test_about_html_without_device_says_so():
    assert "not known yet" in about.about_html(None)


def test_about_html_escapes_the_device_name():
    assert "<script>" not in about.about_html("<script>")


def test_about_does_not_import_tensorflow():
    # a fresh interpreter: earlier tests in this process may have imported TensorFlow already
    code = ("import sys; from mri_denoise_gui.qt import about; html = about.about_html('CPU'); "
            "print('TensorFlow' in html, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, check=True).stdout
    assert out.split() == ["True", "False"]


def test_icon_files_are_bundled():
    names = {p.name for p in about.icon_files()}
    assert "mri-denoise-gui.svg" in names
    for n in about.ICON_SIZES:
        assert f"mri-denoise-gui-{n}.png" in names


def test_app_icon_is_not_null(qapp):
    icon = about.app_icon()
    assert not icon.isNull()
    for n in (16, 48, 256):
        pixmap = icon.pixmap(QSize(n, n))
        assert not pixmap.isNull() and pixmap.width() == n


def test_about_box_shows_icon_and_text(qtbot):
    box = about.about_box(None, "CPU")
    qtbot.addWidget(box)
    assert "CPU" in box.text() and __version__ in box.text()
    assert not box.windowIcon().isNull()
    assert not box.iconPixmap().isNull()
