"""Classical denoisers to compare a network against, on normalised [0, 1] volumes.

Non-local means with the noise sigma estimated per slice is the standard bar; wavelet
(BayesShrink) and total variation are cheap extra references; BM3D runs when the optional
`bm3d` package is installed.
"""

from __future__ import annotations

import importlib.util

import numpy as np

# scikit-image (and the scipy.stats it pulls in, ~0.7 s) is imported where a filter runs, not here:
# the main window imports this module for its comparison menu before it is shown.


def _per_slice(data01: np.ndarray, axis: int, fn) -> np.ndarray:
    data = np.asarray(data01, dtype=np.float32)
    if data.ndim == 2:
        return np.asarray(fn(data), dtype=np.float32)
    out = np.empty_like(data)
    for i in range(data.shape[axis]):
        idx = [slice(None)] * 3
        idx[axis] = i
        out[tuple(idx)] = fn(data[tuple(idx)])
    return out


def _sigma(image: np.ndarray) -> float:
    if float(image.max()) == float(image.min()):
        return 0.0
    from skimage.restoration import estimate_sigma

    return float(estimate_sigma(image, channel_axis=None))


def _nlm2d(image: np.ndarray) -> np.ndarray:
    sigma = _sigma(image)
    if sigma == 0:
        return image.astype(np.float32)
    from skimage.restoration import denoise_nl_means

    out = denoise_nl_means(
        image.astype(np.float64), h=0.8 * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True
    )
    return np.clip(out, 0, 1).astype(np.float32)


def nlm_denoise(data01: np.ndarray, axis: int = 2, mode: str = "2d") -> np.ndarray:
    """Non-local means, slice by slice ("2d") or on the whole volume ("3d")."""
    if mode == "3d" and np.asarray(data01).ndim == 3:
        from skimage.restoration import denoise_nl_means

        data = np.asarray(data01, dtype=np.float64)
        sigma = float(np.median([_sigma(np.take(data, i, axis=axis)) for i in range(data.shape[axis])]))
        if sigma == 0:
            return data.astype(np.float32)
        out = denoise_nl_means(data, h=0.8 * sigma, sigma=sigma, patch_size=3, patch_distance=4, fast_mode=True)
        return np.clip(out, 0, 1).astype(np.float32)
    if mode != "2d":
        raise ValueError(f"unknown NLM mode {mode!r}; choose 2d or 3d")
    return _per_slice(data01, axis, _nlm2d)


def wavelet_denoise(data01: np.ndarray, axis: int = 2) -> np.ndarray:
    from skimage.restoration import denoise_wavelet

    def one(image):
        return np.clip(denoise_wavelet(image, method="BayesShrink", mode="soft", rescale_sigma=True), 0, 1)

    return _per_slice(data01, axis, one)


def tv_denoise(data01: np.ndarray, axis: int = 2) -> np.ndarray:
    from skimage.restoration import denoise_tv_chambolle

    def one(image):
        sigma = _sigma(image)
        return np.clip(denoise_tv_chambolle(image, weight=max(sigma, 1e-3)), 0, 1)

    return _per_slice(data01, axis, one)


def bm3d_available() -> bool:
    return importlib.util.find_spec("bm3d") is not None


def bm3d_denoise(data01: np.ndarray, axis: int = 2) -> np.ndarray:
    if not bm3d_available():
        raise RuntimeError("BM3D needs the optional 'bm3d' package: pip install 'mri-denoise-gui[bm3d]'")
    import bm3d  # optional dependency

    def one(image):
        sigma = _sigma(image)
        return np.clip(bm3d.bm3d(image, sigma_psd=max(sigma, 1e-4)), 0, 1)

    return _per_slice(data01, axis, one)


BASELINES = {
    "nlm": nlm_denoise,
    "nlm3d": lambda data01, axis=2: nlm_denoise(data01, axis=axis, mode="3d"),
    "wavelet": wavelet_denoise,
    "tv": tv_denoise,
    "bm3d": bm3d_denoise,
}
