"""Scores of denoisers on clean volumes with simulated noise: what `mri-denoise evaluate` and the
benchmarks report (noisy input, models and classical baselines; whole image and tissue).

In ml/ (not in the command line) so benchmarks and other front ends share it; it imports no
TensorFlow itself: the models it is handed are loaded ``ml.inference.Denoiser`` objects.
"""

from __future__ import annotations

import math
import time

import numpy as np


def check_baselines(names) -> None:
    """ValueError for an unknown baseline or one whose optional package is missing (before any model runs)."""
    from mri_denoise_gui.core.baselines import BASELINES, bm3d_available

    for name in names:
        if name not in BASELINES:
            raise ValueError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
        if name == "bm3d" and not bm3d_available():
            raise ValueError("baseline bm3d needs the optional 'bm3d' package: pip install 'mri-denoise-gui[bm3d]'")


def finite(value):
    """``value`` with NaN and infinities as None, so the JSON is valid (json.dumps writes bare NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def evaluate(files, models, noise_kind="rician", variances=(0.0025,), baselines=("nlm",), axis=2,
             seed=0, volume_index=0, progress=None) -> dict:
    """Score noisy input, models and baselines on every file and variance (whole image and tissue).

    Returns {"rows": [...mean over files per (method, variance)...], "per_file": [...]}.
    Each file is normalised with the default percentile Normalizer (clipped to [0, 1]); the
    tissue mask is the Otsu foreground of the clean volume.
    """
    from mri_denoise_gui.core.baselines import BASELINES
    from mri_denoise_gui.core.metrics import foreground_mask, volume_metrics
    from mri_denoise_gui.core.noise import add_noise
    from mri_denoise_gui.core.normalize import Normalizer
    from mri_denoise_gui.core.volume import load_volume

    check_baselines(baselines)
    per_file = []
    for f_index, path in enumerate(files):
        vol = load_volume(path, volume_index=volume_index)
        clean = Normalizer().fit(vol.data).forward(vol.data, clip=True)
        mask = foreground_mask(clean)
        n_slices = clean.shape[axis] if clean.ndim == 3 else 1
        for v_index, variance in enumerate(variances):
            noisy = add_noise(clean, noise_kind, variance, seed=seed + 1000 * f_index + v_index)
            candidates = [("noisy input", lambda: noisy)]
            for denoiser in models:
                candidates.append((denoiser.name, lambda d=denoiser: d.denoise_volume01(noisy, axis=axis, batch_size=8)))
            for name in baselines:
                candidates.append((name, lambda fn=BASELINES[name]: fn(noisy, axis=axis)))
            for method, run in candidates:
                started = time.perf_counter()
                out = run()
                seconds = time.perf_counter() - started
                whole, tissue = volume_metrics(clean, out), volume_metrics(clean, out, mask)
                per_file.append({
                    "file": str(path), "method": method, "variance": variance,
                    "sigma": math.sqrt(variance), "psnr": whole["psnr"], "ssim": whole["ssim"],
                    "tissue_psnr": tissue["psnr"], "tissue_ssim": tissue["ssim"],
                    "seconds_per_slice": 0.0 if method == "noisy input" else seconds / n_slices,
                })
                if progress:
                    progress(per_file[-1])
    rows = []
    keys = []
    for r in per_file:
        k = (r["method"], r["variance"])
        if k not in keys:
            keys.append(k)
    for method, variance in keys:
        group = [r for r in per_file if r["method"] == method and r["variance"] == variance]
        row = {"method": method, "variance": variance, "sigma": math.sqrt(variance), "files": len(group)}
        for m in ("psnr", "ssim", "tissue_psnr", "tissue_ssim", "seconds_per_slice"):
            row[m] = float(np.mean([g[m] for g in group]))
        rows.append(row)
    return {"noise_kind": noise_kind, "axis": axis, "seed": seed, "rows": rows, "per_file": per_file}


def format_table(rows) -> str:
    header = f"{'method':<20} {'sigma':>6} {'PSNR':>7} {'SSIM':>7} {'tissue PSNR':>12} {'tissue SSIM':>12} {'s/slice':>8}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['method']:<20} {r['sigma']:>6.3f} {r['psnr']:>7.2f} {r['ssim']:>7.4f} "
                     f"{r['tissue_psnr']:>12.2f} {r['tissue_ssim']:>12.4f} {r['seconds_per_slice']:>8.4f}")
    return "\n".join(lines)
