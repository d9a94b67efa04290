"""Whole-volume SSIM / PSNR / NRMSE in slabs, so a 256^3 volume does not need 3 GB.

`core.metrics.volume_metrics` runs scikit-image's 3D SSIM on the whole float64 volume at once
(about ten full-size float64 temporaries: a 3 GB peak at 256^3). This computes the same numbers
(the mean over valid 7x7x7 window centres, optionally inside a mask, and the same PSNR and NRMSE)
slab by slab along axis 0, each slab read with a 3-voxel halo so every window is complete.
Small volumes go straight to `core.metrics`. A test checks both agree.
"""

from __future__ import annotations

import math

import numpy as np

WIN = 7
HALO = (WIN - 1) // 2


def volume_metrics(ref: np.ndarray, test: np.ndarray, mask: np.ndarray | None = None, slab: int = 24,
                   min_voxels: int = 2**22) -> dict:
    from mri_denoise_gui.core import metrics as core

    ref = np.asarray(ref)
    test = np.asarray(test)
    if ref.shape != test.shape:
        raise ValueError(f"shapes differ: reference {ref.shape} vs test {test.shape}")
    if ref.ndim != 3 or ref.size < min_voxels or min(ref.shape) < WIN:
        return core.volume_metrics(ref, test, mask)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            mask = None
    from skimage.metrics import structural_similarity

    n = ref.shape[0]
    ssim_sum, ssim_count = 0.0, 0
    sq_err, sq_ref, count = 0.0, 0.0, 0
    # valid SSIM centres along axis 0 are HALO .. n-1-HALO; walk them in slabs
    for start in range(HALO, n - HALO, slab):
        stop = min(start + slab, n - HALO)
        lo, hi = start - HALO, stop + HALO
        r = ref[lo:hi].astype(np.float64)
        t = test[lo:hi].astype(np.float64)
        _, smap = structural_similarity(r, t, data_range=core.DATA_RANGE, win_size=WIN, full=True)
        values = smap[HALO:HALO + (stop - start), HALO:-HALO, HALO:-HALO]
        if mask is not None:
            values = values[mask[start:stop, HALO:-HALO, HALO:-HALO]]
        ssim_sum += float(values.sum())
        ssim_count += int(values.size)
    for start in range(0, n, slab):  # squared errors over every voxel (no window)
        r = ref[start:start + slab].astype(np.float64)
        t = test[start:start + slab].astype(np.float64)
        if mask is not None:
            m = mask[start:start + slab]
            r, t = r[m], t[m]
        d = r - t
        sq_err += float(np.dot(d.ravel(), d.ravel()))
        sq_ref += float(np.dot(r.ravel(), r.ravel()))
        count += int(r.size)
    mse = sq_err / max(count, 1)
    psnr = float("inf") if mse == 0 else float(10.0 * np.log10(core.DATA_RANGE ** 2 / mse))
    err, denom = math.sqrt(mse), math.sqrt(sq_ref / max(count, 1))
    nrmse = 0.0 if err == 0 else (err / denom if denom > 0 else float("inf"))
    return {"ssim": ssim_sum / ssim_count if ssim_count else 1.0, "psnr": psnr, "nrmse": nrmse}
