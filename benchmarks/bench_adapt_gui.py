"""Adapting in the window (Model > Adapt to this scan...), offscreen, on the demo volume.

Adds Rician noise (variance 0.0025, sigma 0.05) to the bundled demo volume, adapts the default
model through the dialog with its defaults (r2r, 0.5 min, sigma estimated) while the slice is
changed every half second, and reports the guard's verdict, the wall time, and how long the
denoised pane took to show a new slice meanwhile. Then the reference-free figures' cost: one
slice and the whole volume (what the job runner computes off the GUI thread).

    python benchmarks/bench_adapt_gui.py [--minutes 0.5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=0.5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    from mri_denoise_gui.qt.main_window import MainWindow
    from mri_denoise_gui.resources import demo_volume_path
    from mri_denoise_gui.viewer.noref_figures import slice_figures, volume_figures

    def wait(cond, timeout=900.0):
        t0 = time.monotonic()
        while not cond():
            app.processEvents()
            time.sleep(0.005)
            if time.monotonic() - t0 > timeout:
                raise TimeoutError

    tmp = tempfile.mkdtemp()
    w = MainWindow(settings=QSettings(os.path.join(tmp, "settings.ini"), QSettings.Format.IniFormat))
    w.show()
    w.load_default_model()
    wait(lambda: w.model is not None and w.model.get("backend") == "tensorflow")
    w.open_file(demo_volume_path())
    wait(lambda: w.data is not None and w.data.noisy01 is not None)
    w.set_noise("rician", 0.0025)
    dialog = w.open_adapt_dialog()
    wait(lambda: dialog.worker_ready and dialog.sigma_estimate is not None)
    dialog.minutes_spin.setValue(args.minutes)
    dialog.out_edit.setText(os.path.join(tmp, "adapted"))
    started = time.monotonic()
    dialog.start()
    latencies, i = [], 0
    while dialog.is_running():
        i += 1
        shown = len(w.applied_slice_requests)
        t1 = time.monotonic()
        w.set_slice(20 + i % 110)  # 110 distinct slices: none cached within a 0.5 min run
        try:
            wait(lambda: len(w.applied_slice_requests) > shown, 30)
            latencies.append(time.monotonic() - t1)
        except TimeoutError:
            pass
        t2 = time.monotonic()
        while time.monotonic() - t2 < 0.5:
            app.processEvents()
            time.sleep(0.01)
    wall = time.monotonic() - started
    result = dialog.result or {}
    data = w.data
    mid = data.noisy01.shape[2] // 2
    t0 = time.perf_counter()
    slice_figures(data.noisy01[:, :, mid], data.truth01[:, :, mid])
    t_slice = time.perf_counter() - t0
    t0 = time.perf_counter()
    volume_figures(data.noisy01, data.truth01)
    t_volume = time.perf_counter() - t0
    out = {"shape": list(data.noisy01.shape), "sigma_estimate": dialog.sigma_estimate, "true_sigma": 0.05,
           "kept": result.get("kept"), "gain_db": result.get("gain_db"),
           "estimated_psnr": result.get("estimated_psnr"), "steps_run": result.get("steps_run"),
           "adapt_wall_s": round(wall, 1), "slices_shown_while_adapting": len(latencies),
           "slice_latency_median_s": round(float(np.median(latencies)), 3) if latencies else None,
           "slice_latency_max_s": round(float(np.max(latencies)), 3) if latencies else None,
           "noref_slice_s": round(t_slice, 4), "noref_volume_s": round(t_volume, 2)}
    dialog.close()
    w.close()
    shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:<30} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
