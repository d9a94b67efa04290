"""Coarse, thick-slice, small-matrix synthetic slices: the domain the shipped default never saw.

Why (issue 14, benchmarks/README.md "Real scans"): on real scans of 2-5 mm voxels (a 4x4x5 mm
T1, a 64x64 multi-frame, a 2 mm T1 of 33x41, a 2 mm b0 EPI) the default is worse than its noisy
input at low noise: it smooths away detail one or two voxels wide, which ``synth_slice``'s
mostly-1 mm slices almost never hold. Here a slice is made the way such a scan is acquired:
through-plane partial volume (neighbouring template slices averaged into a 3-6 mm slab), an
in-plane voxel of 1.5-5 mm (box partial volume then resampling, or k-space truncation with its
Gibbs ringing), and often a small field of view (a matrix of 30-80 voxels). Everything else
(contrast, texture, background, bias, normalisation) is ``synth_slice``'s.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mri_denoise_gui.ml.synthetic import TissueMaps, synth_slice


def thick_maps(maps: TissueMaps, axis: int, index: int, thickness: int) -> TissueMaps:
    """A one-slice TissueMaps: ``thickness`` neighbouring 1 mm slices along ``axis`` averaged
    (through-plane partial volume), clipped to the slab."""
    n = maps.shape[axis]
    thickness = int(min(max(thickness, 1), n))
    start = int(min(max(0, index - thickness // 2), n - thickness))
    cut = (slice(None),) * axis + (slice(start, start + thickness),)

    def mean(a):
        return a[cut].astype(np.float32).mean(axis=axis, keepdims=True)

    return TissueMaps(mean(maps.t1), mean(maps.gm), mean(maps.wm), mean(maps.csf), mean(maps.brain) >= 0.5)


def crop_fov(img: np.ndarray, rng: np.random.Generator, smallest: float = 0.35) -> np.ndarray:
    """A random sub-window of ``smallest``-100% of each side: a small field of view."""
    out = img
    for ax in (0, 1):
        n = out.shape[ax]
        keep = max(8, int(round(n * rng.uniform(smallest, 1.0))))
        start = int(rng.integers(0, n - keep + 1)) if keep < n else 0
        out = np.take(out, np.arange(start, start + min(keep, n)), axis=ax)
    return out


def box_downsample(img: np.ndarray, res: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Partial volume: each coarse voxel averages the 1 mm voxels it covers (a box about its
    size, a little Gaussian for the scanner's point-spread), then resampled to the coarse grid."""
    size = [max(1, int(round(r))) for r in res]
    out = ndimage.uniform_filter(img, size=size, mode="nearest")
    extra = rng.uniform(0.0, 0.5)
    if extra > 0.05:
        out = ndimage.gaussian_filter(out, extra)
    shape = [max(4, int(round(n / r))) for n, r in zip(img.shape, res)]
    return ndimage.zoom(out, [s / n for s, n in zip(shape, img.shape)], order=1, prefilter=False)


def kspace_downsample(img: np.ndarray, res: tuple[float, float]) -> np.ndarray:
    """Acquire at a coarser matrix: keep only the central k-space of the 1 mm image (the image's
    own ringing at every edge: Gibbs), magnitude, on the coarse grid."""
    shape = [max(4, int(round(n / r))) for n, r in zip(img.shape, res)]
    k = np.fft.fftshift(np.fft.fft2(img))
    starts = [(n - s) // 2 for n, s in zip(img.shape, shape)]
    k = k[starts[0]:starts[0] + shape[0], starts[1]:starts[1] + shape[1]]
    out = np.abs(np.fft.ifft2(np.fft.ifftshift(k))) * (shape[0] * shape[1]) / (img.shape[0] * img.shape[1])
    return out.astype(np.float32)


def coarse_resample(rng: np.random.Generator):
    """A ``synth_slice`` resample step drawn at random: in-plane 1.5-5 mm (anisotropic a third
    of the time), often a small field of view, box partial volume or (35 %) k-space truncation."""
    res = rng.uniform(1.5, 5.0)
    res2 = res if rng.random() < 0.65 else float(np.clip(res * rng.uniform(0.6, 1.6), 1.5, 5.0))
    fov = rng.random() < 0.4
    kspace = rng.random() < 0.35

    def resample(img, r):
        if fov:
            img = crop_fov(img, r)
        return kspace_downsample(img, (res, res2)) if kspace else box_downsample(img, (res, res2), r)

    return resample


def coarse_slice(maps: TissueMaps, rng: np.random.Generator, axis: int | None = None) -> np.ndarray:
    """One synthetic slice of the coarse domain, normalised to [0, 1] (float32)."""
    if axis is None:
        axis = int(rng.integers(0, 3))
    lo, hi = maps.brain_extent(axis)
    margin = (hi - lo) // 10
    index = int(rng.integers(lo + margin, hi - margin + 1))
    thickness = int(rng.integers(3, 7)) if rng.random() < 0.75 else int(rng.integers(1, 3))
    return synth_slice(thick_maps(maps, axis, index, thickness), rng, axis=axis,
                       resample=coarse_resample(rng))
