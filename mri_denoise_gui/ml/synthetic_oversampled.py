"""Oversampled synthetic slices: images interpolated onto a finer grid than they were acquired on.

Why (issue 14): many real scans are reconstructed on a grid finer than their resolution (k-space
zero-filling, a 1024x1024 matrix at 0.2 mm, scanner interpolation), so the anatomy is smooth at the
pixel scale while the noise is still white. BM3D's transform finds no fine signal there and removes
it all; the default, which trained only on slices whose detail reaches the pixel scale, keeps much
of the noise: on validation-slab slices oversampled 3x it trails BM3D told the sigma by 4.8 dB in
tissue, against 1.8 dB on the slices as they are (benchmarks/README.md, "Stage 8"). Here a
``synth_slice`` is interpolated 1.5-4x, by a cubic spline or (as scanners do) by zero-filling its
k-space, before any noise is added.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mri_denoise_gui.ml.synthetic import TissueMaps, synth_slice

#: how much finer than the slice's own grid, at most; the slice is cropped first so the result
#: stays near this size (a patch is cut from it)
MAX_SIDE = 320


def zero_fill(img: np.ndarray, factor: float) -> np.ndarray:
    """``img`` on a grid ``factor`` times finer by zero-filling its centred k-space (sinc
    interpolation, with its ringing at sharp edges), scale kept."""
    h, w = img.shape
    big = (int(round(h * factor)), int(round(w * factor)))
    k = np.fft.fftshift(np.fft.fft2(img))
    out = np.zeros(big, complex)
    y0, x0 = (big[0] - h) // 2, (big[1] - w) // 2
    out[y0:y0 + h, x0:x0 + w] = k
    return np.abs(np.fft.ifft2(np.fft.ifftshift(out))) * (big[0] * big[1]) / (h * w)


def oversampled_slice(maps: TissueMaps, rng: np.random.Generator, axis: int | None = None) -> np.ndarray:
    """One synthetic slice interpolated 1.5-4x, float32 in [0, 1]."""
    img = synth_slice(maps, rng, axis=axis)
    factor = float(rng.uniform(1.5, 4.0))
    side = max(16, int(MAX_SIDE / factor))
    h, w = img.shape
    y = int(rng.integers(0, max(h - side, 0) + 1))
    x = int(rng.integers(0, max(w - side, 0) + 1))
    crop = img[y:y + side, x:x + side]
    if rng.random() < 0.6:
        fine = ndimage.zoom(crop, factor, order=3)
    else:
        fine = zero_fill(crop, factor)
    return np.clip(fine, 0.0, 1.0).astype(np.float32)
