"""Make error-roi-profile.png and orthogonal-views.png by driving the real window offscreen.

    QT_QPA_PLATFORM=offscreen python docs/screenshots/make_comparison_shots.py docs/screenshots

(comparison.png comes from the app itself: see the README's "Comparing methods" section.)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QApplication

from mri_denoise_gui.qt.main_window import MainWindow
from mri_denoise_gui.qt.theme import apply_dark_theme


def main(out: Path) -> int:
    app = QApplication([])
    apply_dark_theme(app)
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings)
    w.resize(1800, 1000)
    w.show()

    def wait(done, timeout=180.0):
        end = time.time() + timeout
        while not done():
            if time.time() > end:
                raise TimeoutError("the window did not get there")
            app.processEvents()
            time.sleep(0.01)

    w.open_demo()
    wait(lambda: w.data is not None and w.data.noisy01 is not None)
    w.load_default_model()
    wait(lambda: w.current.get("denoised") is not None)
    w.add_comparison_pane("nlm")
    w.error_action.setChecked(True)
    w.residual_action.setChecked(True)
    w.colour_bar_action.setChecked(True)
    wait(w.comparison_ready)
    w.add_roi("rect", "denoised")
    w.add_roi("line", "noisy", pos=(40, 100), size=(100, 0))
    wait(lambda: time.sleep(1) or True)
    app.processEvents()
    w.grab().save(str(out / "error-roi-profile.png"))
    w.show_ortho(True)
    wait(lambda: all(p.image is not None for p in w.ortho.panes.values()))
    app.processEvents()
    w.grab().save(str(out / "orthogonal-views.png"))
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
