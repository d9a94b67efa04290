"""How long File › Open holds the GUI thread, per file, including a header that lies about its size.

`open_file` returns once the work left on the GUI thread is done; a big volume is then read in
a thread. "GUI thread" is the time inside `open_file`; "on screen" is until the volume is shown
(or the error message is). Offscreen, median of `--runs` opens per file.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402


def write(path: Path, shape) -> Path:
    rng = np.random.default_rng(0)
    nib.save(nib.Nifti1Image((rng.random(shape) * 1000).astype(np.float32), np.eye(4)), str(path))
    return path


def size_bomb(path: Path) -> Path:
    """A gzipped header (tens of bytes) promising 1024 x 1024 x 512 float32 voxels, and no data."""
    header = nib.Nifti1Header()
    header.set_data_shape((1024, 1024, 512))
    header.set_data_dtype(np.float32)
    path.write_bytes(gzip.compress(header.binaryblock + b"\0\0\0\0", mtime=0))
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from mri_denoise_gui.qt.main_window import MainWindow

    tmp = Path(tempfile.mkdtemp(prefix="bench-open-"))
    files = {
        "32x40x24 (.nii.gz)": write(tmp / "small.nii.gz", (32, 40, 24)),
        "64x64x64 (.nii.gz)": write(tmp / "mid.nii.gz", (64, 64, 64)),
        "256x256x128 (.nii.gz)": write(tmp / "big.nii.gz", (256, 256, 128)),
        "header promising 1024x1024x512, no data": size_bomb(tmp / "bomb.nii.gz"),
    }
    window = MainWindow(settings=QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    window.show()
    print("| file | bytes on disk | GUI thread (median) | on screen or message (median) |\n|---|---|---|---|")
    for name, path in files.items():
        gui, total = [], []
        for _ in range(args.runs):
            finished = []
            window.volumeLoaded.connect(lambda: finished.append(1))
            window.errorShown.connect(lambda *_: finished.append(1))
            t0 = time.perf_counter()
            window.open_file(path)
            gui.append(time.perf_counter() - t0)
            while not finished:
                app.processEvents()
                time.sleep(0.001)
            total.append(time.perf_counter() - t0)
            window.volumeLoaded.disconnect()
            window.errorShown.disconnect()
            for box in window._message_boxes[:]:
                box.close()
        print(f"| {name} | {path.stat().st_size:,} | {1000 * statistics.median(gui):.1f} ms "
              f"| {1000 * statistics.median(total):.1f} ms |")
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
