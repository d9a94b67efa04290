"""Reference-free figures the window shows for a real noisy scan (no ground truth), as plain functions.

They are `core.noref`'s, computed on what the window already holds (the noisy slice or volume
and the denoised one), so the job runner can run them off the GUI thread and a test can check
them against `core.noref` on the same arrays. Model calls are not made here (they belong to
the inference thread): the figures that need them (SURE, the J-invariant loss) come from the
adaptation's guard instead.
"""

from __future__ import annotations

import numpy as np

from mri_denoise_gui.core import noref

#: The rows of the window's panel, in order (keys of `core.noref.DESCRIPTIONS`).
ROWS = ("sigma", "sigma_out", "residual_ratio", "residual_structure")


def _volume_values(report: dict) -> dict:
    return {key: report[key]["volume"] for key in ROWS if key in report}


def slice_figures(noisy01: np.ndarray, denoised01: np.ndarray | None) -> dict:
    """The figures of one displayed 2D slice: {key: value} (NaN where the slice has too little tissue)."""
    report = noref.noref_report(np.asarray(noisy01, np.float32),
                                None if denoised01 is None else np.asarray(denoised01, np.float32))
    return _volume_values(report)


def volume_figures(noisy01: np.ndarray, denoised01: np.ndarray | None, axis: int = 2) -> dict:
    """The figures of the whole volume (slices along the file ``axis`` the volume was denoised on)."""
    return _volume_values(noref.noref_report(noisy01, denoised01, axis=axis))


def scan_sigma(noisy01: np.ndarray, axis: int = 2, raw: np.ndarray | None = None, scale: float = 1.0) -> float:
    """The noise sigma adaptation would start from (the smaller of the tissue and the background
    estimate, as `ml.adapt.scan_sigma`); ``raw`` is the file's own data when there is one (the air
    around the head is Rayleigh only before normalisation clips it)."""
    tissue = noref.estimate_sigma(noisy01, axis=axis)
    background = noref.background_sigma(raw, axis=axis) if raw is not None and np.ndim(raw) == 3 else None
    return min(tissue, background / scale) if background and scale > 0 else tissue


def sure_sample(noisy01: np.ndarray, axis: int = 2, count: int = 16) -> np.ndarray:
    """Up to ``count`` slices (N, H, W) spread evenly over those with tissue: what the volume's SURE
    scores (each costs two model passes, so not the whole volume)."""
    stack = np.moveaxis(np.asarray(noisy01, np.float32), axis, 0)
    mask = noref.tissue_mask(stack, erode=0)
    usable = [i for i in range(len(stack)) if mask[i].sum() >= noref.MIN_TISSUE] or list(range(len(stack)))
    picks = sorted({usable[k] for k in np.linspace(0, len(usable) - 1, min(count, len(usable))).round().astype(int)})
    return stack[picks]


def sure_psnr(stack: np.ndarray, denoise, sigma: float) -> float | None:
    """SURE-estimated tissue PSNR (dB) of ``denoise`` (a function of an (N, H, W) stack) on ``stack``,
    for Rician noise: the window shows these figures for a scan without ground truth, a real
    magnitude image."""
    return noref.sure_mse(stack, denoise, sigma, axis=0, rician=True)["psnr"]
