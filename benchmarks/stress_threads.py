"""Stress: training and inference workers running TensorFlow at the same time, for minutes.

Why: both workers own TensorFlow in their own threads (`qt/python_thread.PythonThread`), and an
early build segfaulted on the first trace in a worker thread. Short tests cannot show that a
long session survives, so this keeps a real window busy: the training dialog trains the tiny
network on the open volume again and again, while the main window scrubs to random slices
(each denoised by the inference worker), re-draws the noise with new seeds, and denoises the
whole volume now and then. It fails (exit 1) on a crash, a worker error, or a denoised slice
that never arrives; it prints counts and slice latencies while training competes for the CPU.

    python benchmarks/stress_threads.py [--minutes 5] [--model DIR] [--json]

Offscreen (QT_QPA_PLATFORM=offscreen); not part of `make test` (it runs for minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from bench_gui import pick_model, stats, wait_until, write_volume  # noqa: E402

SLICE_TIMEOUT_S = 60.0


def run(minutes: float, model: str | None, tmp: Path) -> dict:
    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication

    from mri_denoise_gui.qt.main_window import MainWindow
    from mri_denoise_gui.qt.training_dialog import open_training_dialog

    app = QApplication.instance() or QApplication([])
    window = MainWindow(settings=QSettings(str(tmp / "stress.ini"), QSettings.Format.IniFormat))
    window.resize(1280, 800)
    window.show()
    volume = write_volume(tmp / "stress.nii.gz", (128, 128, 48))
    window.open_file(volume)
    wait_until(app, lambda: window.data is not None and window.data.noisy01 is not None)
    model_dir, model_name = pick_model(model, tmp)
    loaded = []
    window.modelReady.connect(loaded.append)
    window.load_model(model_dir)
    wait_until(app, lambda: bool(loaded))

    dialog = open_training_dialog(window)
    wait_until(app, lambda: dialog.worker_ready, timeout=180)
    form = dialog.form
    form.add_paths([str(volume)])
    form.arch_combo.setCurrentIndex(form.arch_combo.findData("tiny"))
    form.epochs_spin.setValue(3)
    form.steps_spin.setValue(40)
    form.batch_spin.setValue(8)
    form.patch_spin.setValue(32)
    form.out_edit.setText(str(tmp / "models" / "stress"))
    dialog.config["val_patches"] = 16
    errors = []
    finished = []
    dialog.trainingFailed.connect(lambda reason, details: errors.append(f"training: {reason}"))
    dialog.trainingFinished.connect(finished.append)
    window.errorShown.connect(lambda reason, details: errors.append(f"window: {reason}"))

    rng = np.random.default_rng(0)
    n_slices = window.data.geometry(window.session.axis).n_slices
    latencies, during_training = [], []
    counts = {"slices": 0, "noise_redraws": 0, "volume_denoises": 0, "training_runs_started": 0}
    deadline = time.perf_counter() + 60 * minutes
    while time.perf_counter() < deadline and not errors:
        if not dialog.is_training():
            if not dialog.start_training():
                errors.append(f"training did not start: {dialog.errors}")
                break
            counts["training_runs_started"] += 1
        step = counts["slices"]
        if step % 25 == 24:
            window.set_noise(seed=int(rng.integers(1, 10_000)))
            wait_until(app, lambda: window.data.noisy01 is not None and window.current.get("noisy") is not None)
            counts["noise_redraws"] += 1
        if step % 60 == 59 and window.denoise_volume():
            wait_until(app, lambda: window._volume_job is None, timeout=300)
            counts["volume_denoises"] += 1
        t0 = time.perf_counter()
        window.set_slice(int(rng.integers(0, n_slices)))
        training = dialog.is_training()
        try:
            wait_until(app, lambda: window.current.get("denoised") is not None, timeout=SLICE_TIMEOUT_S)
        except TimeoutError:
            errors.append(f"a denoised slice did not arrive within {SLICE_TIMEOUT_S:.0f} s")
            break
        ms = 1000 * (time.perf_counter() - t0)
        latencies.append(ms)
        if training:
            during_training.append(ms)
        counts["slices"] += 1
        app.processEvents()
    dialog.cancel_and_wait(60_000)
    wait_until(app, lambda: not dialog.is_training(), timeout=120)
    completed = sum(1 for r in finished if not r.get("cancelled"))
    median, p95 = stats(latencies) if latencies else (float("nan"), float("nan"))
    t_median, t_p95 = stats(during_training) if during_training else (float("nan"), float("nan"))
    window.close()
    app.processEvents()
    return {"minutes": minutes, "model": model_name, **counts, "training_runs_completed": completed,
            "slice_ms_median": median, "slice_ms_p95": p95, "slice_ms_median_while_training": t_median,
            "slice_ms_p95_while_training": t_p95, "errors": errors}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--model", help="model folder for the window (default: the bundled default)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.minutes, args.model, Path(tmp))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:32} {value:.1f}" if isinstance(value, float) else f"{key:32} {value}")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
