"""SSIM, PSNR and NRMSE on normalised images (data range 1.0), via scikit-image.

Scores can be restricted to a foreground mask: whole-image PSNR rewards blanking the
background and can hide damage to tissue.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu
from skimage.metrics import (
    mean_squared_error,
    structural_similarity,
)

DATA_RANGE = 1.0
METRIC_NAMES = ("ssim", "psnr", "nrmse")


def _pair(ref: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(ref, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    if ref.shape != test.shape:
        raise ValueError(f"shapes differ: reference {ref.shape} vs test {test.shape}")
    return ref, test


def _mask(mask: np.ndarray | None, shape) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != tuple(shape):
        raise ValueError(f"mask shape {mask.shape} does not match image shape {tuple(shape)}")
    return mask if mask.any() else None


def ssim(ref: np.ndarray, test: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean SSIM as scikit-image computes it (window borders cropped), optionally in a mask."""
    ref, test = _pair(ref, test)
    mask = _mask(mask, ref.shape)
    if ref.ndim == 3 and min(ref.shape) < 7:
        axis = int(np.argmin(ref.shape))
        parts = [
            _ssim_map(np.take(ref, i, axis=axis), np.take(test, i, axis=axis),
                      None if mask is None else np.take(mask, i, axis=axis))
            for i in range(ref.shape[axis])
        ]
    else:
        parts = [_ssim_map(ref, test, mask)]
    values = np.concatenate([p.ravel() for p in parts])
    return float(values.mean()) if values.size else 1.0


def _ssim_map(ref: np.ndarray, test: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """SSIM values of the valid (uncropped) window centres, restricted to `mask`."""
    small = min(ref.shape)
    if small < 3:  # too small for any window: equal pixels score 1
        smap, pad = np.where(np.isclose(ref, test), 1.0, 0.0), 0
    else:
        win = min(7, small if small % 2 else small - 1)
        _, smap = structural_similarity(ref, test, data_range=DATA_RANGE, win_size=win, full=True)
        pad = (win - 1) // 2
    core = tuple(slice(pad, s - pad) for s in smap.shape)
    values = smap[core]
    if mask is not None:
        values = values[mask[core]]
    return values


def _mse(ref, test, mask) -> float:
    if mask is not None:
        ref, test = ref[mask], test[mask]
    return float(mean_squared_error(ref, test))


def psnr(ref: np.ndarray, test: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB; identical images give inf."""
    ref, test = _pair(ref, test)
    return _psnr_from_mse(_mse(ref, test, _mask(mask, ref.shape)))


def _psnr_from_mse(mse: float) -> float:
    return float("inf") if mse == 0 else float(10.0 * np.log10(DATA_RANGE**2 / mse))


def _nrmse_from(mse: float, ref_mean_square: float) -> float:
    """RMSE over the reference's RMS: 0 when equal, inf on an empty reference."""
    err, denom = float(np.sqrt(mse)), float(np.sqrt(ref_mean_square))
    if err == 0:
        return 0.0
    return err / denom if denom > 0 else float("inf")


def nrmse(ref: np.ndarray, test: np.ndarray, mask: np.ndarray | None = None) -> float:
    """RMSE over the reference's RMS (skimage's 'euclidean'); 0 when equal, inf on an empty ref."""
    ref, test = _pair(ref, test)
    mask = _mask(mask, ref.shape)
    if mask is not None:
        ref, test = ref[mask], test[mask]
    return _nrmse_from(float(np.mean((ref - test) ** 2)), float(np.mean(ref**2)))


def foreground_mask(reference: np.ndarray) -> np.ndarray:
    """Otsu threshold of the clean reference, holes filled: 'inside the tissue'."""
    ref = np.asarray(reference, dtype=np.float32)
    if ref.size == 0 or float(ref.max()) == float(ref.min()):
        return np.ones(ref.shape, dtype=bool)
    mask = ref > threshold_otsu(ref)
    return ndimage.binary_fill_holes(mask)


SLAB_WIN = 7
SLAB_HALO = (SLAB_WIN - 1) // 2


def volume_metrics(
    ref: np.ndarray,
    test: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    slab: int = 24,
    min_voxels: int = 2**22,
) -> dict:
    """SSIM, PSNR, NRMSE; volumes of `min_voxels` or more are scored in slabs of `slab` planes.

    scikit-image's 3D SSIM on a whole 256^3 volume keeps about ten full-size float64
    temporaries (a 3 GB peak); slabs read with a 3-voxel halo give the same numbers.
    """
    ref, test = np.asarray(ref), np.asarray(test)
    if ref.shape != test.shape:
        raise ValueError(f"shapes differ: reference {ref.shape} vs test {test.shape}")
    if ref.ndim != 3 or ref.size < min_voxels or min(ref.shape) < SLAB_WIN:
        return {
            "ssim": ssim(ref, test, mask),
            "psnr": psnr(ref, test, mask),
            "nrmse": nrmse(ref, test, mask),
        }
    return _slab_volume_metrics(ref, test, _mask(mask, ref.shape), slab)


def _slab_volume_metrics(ref: np.ndarray, test: np.ndarray, mask: np.ndarray | None, slab: int) -> dict:
    n, halo = ref.shape[0], SLAB_HALO
    ssim_sum, ssim_count = 0.0, 0
    # valid SSIM centres along axis 0 are halo .. n-1-halo; walk them in slabs
    for start in range(halo, n - halo, slab):
        stop = min(start + slab, n - halo)
        r = ref[start - halo : stop + halo].astype(np.float64)
        t = test[start - halo : stop + halo].astype(np.float64)
        _, smap = structural_similarity(r, t, data_range=DATA_RANGE, win_size=SLAB_WIN, full=True)
        values = smap[halo : halo + (stop - start), halo:-halo, halo:-halo]
        if mask is not None:
            values = values[mask[start:stop, halo:-halo, halo:-halo]]
        ssim_sum += float(values.sum())
        ssim_count += int(values.size)
    sq_err, sq_ref, count = 0.0, 0.0, 0
    for start in range(0, n, slab):  # squared errors over every voxel (no window)
        r = ref[start : start + slab].astype(np.float64)
        t = test[start : start + slab].astype(np.float64)
        if mask is not None:
            m = mask[start : start + slab]
            r, t = r[m], t[m]
        d = (r - t).ravel()
        sq_err += float(np.dot(d, d))
        sq_ref += float(np.dot(r.ravel(), r.ravel()))
        count += int(r.size)
    mse = sq_err / max(count, 1)
    return {
        "ssim": ssim_sum / ssim_count if ssim_count else 1.0,
        "psnr": _psnr_from_mse(mse),
        "nrmse": _nrmse_from(mse, sq_ref / max(count, 1)),
    }


def slice_metrics(ref: np.ndarray, test: np.ndarray, axis: int = 2, mask: np.ndarray | None = None) -> dict:
    """Per-slice scores along `axis`; a slice with an empty mask is scored whole."""
    ref, test = _pair(ref, test)
    if ref.ndim != 3:
        raise ValueError("slice_metrics needs 3D volumes")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
    out: dict[str, list[float]] = {name: [] for name in METRIC_NAMES}
    for i in range(ref.shape[axis]):
        m = None if mask is None else np.take(mask, i, axis=axis)
        scores = volume_metrics(np.take(ref, i, axis=axis), np.take(test, i, axis=axis), m)
        for name in METRIC_NAMES:
            out[name].append(scores[name])
    return out
