"""The viewer's computations, as plain functions of arrays (run in a job thread by the window)."""

from __future__ import annotations

import numpy as np

from mri_denoise_gui.core.noise import add_noise
from mri_denoise_gui.viewer.state import NoiseSettings, ViewerData


def _metrics():
    """core.metrics pulls in scipy.stats (about a second): imported on first use, after show."""
    from mri_denoise_gui.core import metrics

    return metrics


def make_noisy_volume(truth01: np.ndarray, settings: NoiseSettings) -> np.ndarray:
    """The noisy volume the window shows: `mri-denoise add-noise` with the same settings."""
    return add_noise(truth01, settings.kind, settings.variance, seed=settings.seed)


def score_pair(truth: np.ndarray, image: np.ndarray, mask: np.ndarray | None) -> dict:
    m = _metrics()
    return {"ssim": m.ssim(truth, image, mask), "psnr": m.psnr(truth, image, mask)}


def score_slice(truth: np.ndarray, noisy: np.ndarray, denoised: np.ndarray | None,
                mask: np.ndarray | None = None, noisy_scores: dict | None = None) -> dict:
    """SSIM / PSNR of a displayed slice; `noisy_scores` reuses the noisy figures already known."""
    return {"noisy": noisy_scores or score_pair(truth, noisy, mask),
            "denoised": None if denoised is None else score_pair(truth, denoised, mask),
            "mask": mask is not None}


def score_volume(data: ViewerData, use_mask: bool) -> dict:
    """Whole-volume SSIM / PSNR of the noisy and the denoised volume (slab-wise: bounded memory)."""
    if data.truth01 is None or data.noisy01 is None or data.denoised01 is None:
        raise ValueError("whole-volume metrics need the ground truth, the noisy and the denoised volume")
    m = _metrics()
    mask = data.foreground() if use_mask else None
    return {"noisy": m.volume_metrics(data.truth01, data.noisy01, mask),
            "denoised": m.volume_metrics(data.truth01, data.denoised01, mask), "mask": use_mask}


def volume_metrics_text(result: dict) -> str:
    """The metrics panel's whole-volume lines."""
    n, d = result["noisy"], result["denoised"]
    where = " (inside mask)" if result["mask"] else ""
    return (f"Whole volume{where}:\nSSIM {n['ssim']:.4f} → {d['ssim']:.4f} ({d['ssim'] - n['ssim']:+.4f})\n"
            f"PSNR {n['psnr']:.2f} → {d['psnr']:.2f} dB ({d['psnr'] - n['psnr']:+.2f})")
