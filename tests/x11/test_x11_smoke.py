"""A real X11 window: the app on the demo volume with the shipped default model, shown by an X server.

Runs on Qt's xcb platform under Xvfb (see conftest.py). What the X server displays is read back
from its root window (XGetImage, screen.py) and compared with what the widgets draw, so a window
that never maps, maps blank or stays behind is caught; the entry point is run as `make run` runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QGuiApplication, QImage
from PyQt6.QtWidgets import QWidget

from tests.qt.conftest import wait_denoised_current
from tests.x11.screen import grab_root, qimage_rgb, save_png

FIRST_SLICE_MS = 240_000  # TensorFlow import + the default model's first slice on a busy 2-core CI box


def on_screen_fraction(widget, screen: np.ndarray, tolerance: int = 12) -> float:
    """Share of the widget's pixels that the X server shows as the widget draws them (1.0 = all)."""
    top_left = widget.mapToGlobal(widget.rect().topLeft())
    x, y = top_left.x(), top_left.y()
    drawn = qimage_rgb(widget.grab().toImage())
    h, w, _ = drawn.shape
    shown = screen[y:y + h, x:x + w]
    if shown.shape != drawn.shape:
        return 0.0
    close = np.abs(shown.astype(np.int16) - drawn.astype(np.int16)).max(axis=2) <= tolerance
    return float(close.mean())


def shown_by_x(qtbot, widget, timeout_ms: int = 30_000) -> np.ndarray:
    """The root window once the X server shows `widget` as it draws itself (a window maps before it paints)."""
    last = {}

    def shown():
        last["screen"], tool = grab_root()
        fraction = on_screen_fraction(widget, last["screen"])
        assert fraction > 0.9, f"{tool}: the X server shows {fraction:.0%} of {type(widget).__name__} as drawn"

    qtbot.waitUntil(shown, timeout=timeout_ms)
    return last["screen"]


def assert_not_blank(screen: np.ndarray) -> None:
    colours = np.unique(screen.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 64 and screen.std() > 10, \
        f"the screen looks blank: {len(colours)} colours, std {screen.std():.1f}"


def test_the_platform_is_real_xcb(qapp):
    assert QGuiApplication.platformName() == "xcb"
    screen = QGuiApplication.primaryScreen()
    assert screen.size().width() >= 1280 and screen.size().height() >= 800, screen.size()


def test_demo_window_scrub_training_dialog_and_what_the_x_server_shows(qtbot, settings, tmp_path):
    from mri_denoise_gui.qt.main_window import MainWindow
    from mri_denoise_gui.qt.theme import apply_dark_theme

    apply_dark_theme(QGuiApplication.instance())  # as app.main does
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    with qtbot.waitSignal(window.firstDenoisedShown, timeout=FIRST_SLICE_MS):
        assert window.open_demo()
        assert window.load_default_model()
    wait_denoised_current(qtbot, window)

    window.activateWindow()
    slider = window.slice_slider
    slider.setFocus()
    start = slider.value()
    for key in (Qt.Key.Key_PageUp, Qt.Key.Key_Up, Qt.Key.Key_Up, Qt.Key.Key_PageDown, Qt.Key.Key_Down):
        qtbot.keyClick(slider, key)
        wait_denoised_current(qtbot, window)
    assert slider.value() == start + 1 and window.index == start + 1
    qtbot.waitUntil(lambda: window.slice_metrics.get("denoised") is not None, timeout=30_000)

    window.open_training_dialog()
    dialog = window.findChild(QWidget, "trainingDialog")
    assert dialog is not None
    qtbot.waitExposed(dialog)
    screen = shown_by_x(qtbot, dialog)
    save_png(screen, tmp_path / "screen-with-training-dialog.png")
    assert_not_blank(screen)

    dialog.close()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)
    screen = shown_by_x(qtbot, window)
    save_png(screen, tmp_path / "screen.png")
    if os.environ.get("X11_SMOKE_SCREENSHOT"):
        save_png(screen, os.environ["X11_SMOKE_SCREENSHOT"])
    assert_not_blank(screen)
    for name in ("noisy", "denoised", "truth"):  # the three brain slices, as the window draws them
        pane = window.findChild(QWidget, f"{name}View")
        assert on_screen_fraction(pane, screen) > 0.9, f"the {name} pane is not what the X server shows"
    assert on_screen_fraction(window, screen) > 0.9

    window.close()
    window.tasks.join(10)
    assert window.controller.thread.isFinished(), "the inference thread outlived the window"


def test_the_entry_point_opens_the_demo_on_xcb_and_exits_0(tmp_path):
    """What `make run` runs (plus --screenshot, so it ends by itself): the preflight passes, Qt loads xcb."""
    out = tmp_path / "window.png"
    env = dict(os.environ, HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "cfg"), PYTHONFAULTHANDLER="1")
    proc = subprocess.run([sys.executable, "-m", "mri_denoise_gui", "--demo", "--screenshot", str(out)],
                          env=env, capture_output=True, text=True, timeout=FIRST_SLICE_MS / 1000 + 60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "saving the screenshot anyway" not in proc.stderr, proc.stderr[-1500:]
    assert "qt.qpa.plugin" not in proc.stderr and "mri-denoise-gui: error" not in proc.stderr, proc.stderr[-1500:]
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1280, 800)


def test_the_preflight_finds_nothing_missing_where_xcb_works():
    from mri_denoise_gui import preflight

    plugin = preflight.xcb_plugin()
    assert plugin is not None
    assert preflight.missing_xcb_libraries(plugin) == []
    assert preflight.check() is None
