"""What the adaptation dialog says and where it keeps its files (no widgets here).

Why apart: the verdict sentence and the app-owned temporary folders are plain functions the
dialog, its tests and the README describe; the dialog keeps the widgets and the run.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import numpy as np

from mri_denoise_gui.qt.training_report import format_duration

_TEMP_DIRS: list[Path] = []


def app_temp_dir() -> Path:
    """A folder this process made (and removes at exit) for simulated volumes and adapted models."""
    folder = Path(tempfile.mkdtemp(prefix="mri-denoise-adapt-"))
    _TEMP_DIRS.append(folder)
    return folder


@atexit.register
def _remove_temp_dirs() -> None:
    for folder in _TEMP_DIRS:
        shutil.rmtree(folder, ignore_errors=True)


def verdict_text(result: dict) -> str:
    """The guard's verdict in a sentence or two: which model won and by how much (estimated)."""
    if result.get("cancelled"):
        return "Cancelled: the starting model is unchanged and nothing was written."
    gain = result.get("gain_db")
    psnr = result.get("estimated_psnr") or {}
    by = "n/a" if gain is None else f"{gain:+.2f} dB"
    if result.get("kept"):
        head = f"<b>The adapted model won</b>: estimated tissue PSNR {by}"
    else:
        head = f"<b>The starting model stays</b>: adapting did not help enough (estimated {by})"
    if psnr.get("start") is not None and psnr.get("adapted") is not None:
        head += f" ({psnr['start']:.2f} → {psnr['adapted']:.2f} dB, SURE on held-out slices)"
    if result.get("winner") == "non-local means":
        head += "; non-local means scored better still"
    sigma = ", ".join(f"{s:.4f}" for s in result.get("sigmas", []))
    return (f"{head}.<br>σ {sigma}; {result.get('steps_run', 0)} steps in "
            f"{format_duration(float(result.get('seconds', 0)))}. Estimates without a reference, not measurements.")


def epoch_line(event: dict) -> str:
    """The log line of an adaptation epoch: its self-supervised loss, on training and held-out patches."""
    logs, nan = event.get("logs") or {}, float("nan")
    return (f"epoch {event.get('epoch')}/{event.get('epochs')}  self-supervised loss {logs.get('loss', nan):.5f}  "
            f"held-out {logs.get('val_loss', nan):.5f}")


def write_simulated(noisy01: np.ndarray, affine) -> str:
    """The simulated noisy volume as a NIfTI file in an app-owned folder (adaptation reads files)."""
    import nibabel as nib

    path = app_temp_dir() / "simulated_noisy.nii"
    nib.save(nib.Nifti1Image(np.asarray(noisy01, np.float32), affine), str(path))
    return str(path)
