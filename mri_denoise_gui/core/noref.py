"""Quality figures that need no clean reference: what a user can know about a real scan.

Figures per slice and per volume, inside the tissue (a smoothed Otsu mask of the noisy image;
sigma is measured one pixel in from its edge), where Rician noise is close to Gaussian:

- the noise sigma of an image, from the median absolute response of Immerkaer's Laplacian-
  difference filter (it cancels flat and linear intensity, so what is left is mostly noise);
- the J-invariant loss of a denoiser (Batson & Royer's Noise2Self, as scikit-image's
  ``calibrate_denoiser`` / ``denoise_invariant`` use it): a grid of pixels is hidden (replaced by
  the mean of their neighbours), the image denoised, and the output at the hidden pixels compared
  with the noisy values. With noise independent from pixel to pixel it equals the true error of
  that (J-invariant) denoiser plus the noise variance, so it ranks denoisers without a reference;
- the SURE estimate of a denoiser's mean squared error (needs sigma; scores the denoiser as used);
- how much structure the residual (noisy - denoised) carries: the correlation of |residual| with
  the edge strength of the (lightly smoothed) noisy image. Removed noise does not follow edges;
  removed anatomy does.

Limits: spatially correlated noise (parallel imaging, interpolated or filtered scans) breaks the
independence both the sigma and the J-invariant loss rely on.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

#: One sentence per figure, meant for tooltips and the command line's legend.
DESCRIPTIONS = {
    "sigma": "Estimated noise standard deviation in the tissue, as a fraction of the normalised "
             "intensity range (0.05 = 5%); lower is cleaner.",
    "sigma_out": "The same estimate on the denoised image: the noise left behind (it also drops when "
                 "fine texture is smoothed away, so read it with the residual figures).",
    "residual_ratio": "Standard deviation of what was removed (noisy - denoised) over the input's "
                      "noise sigma: near 1 removes about the noise, well above 1 removes anatomy too, "
                      "well below 1 leaves noise.",
    "residual_structure": "Correlation between the size of what was removed and the edge strength of "
                          "the scan: near 0 means the removed part looks like noise, higher means "
                          "edges and anatomy were removed.",
    "j_invariant_loss": "Self-supervised (J-invariant) loss: mean squared difference between the noisy "
                        "image and the denoiser's output at pixels it was not shown; lower is better, "
                        "and it cannot fall below the noise variance.",
    "sure_mse": "Stein's unbiased risk estimate of the mean squared error of the denoiser against the unseen "
                "clean image (shown as an estimated tissue PSNR), corrected for the Rician noise floor of "
                "magnitude scans; needs a good noise sigma.",
}

#: High-pass kernel whose response to unit white noise has standard deviation 6 (Immerkaer 1996).
_LAPLACE_DIFF = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
_MAD_TO_SIGMA = 1.0 / 0.6745
#: Neighbour weights that fill a hidden pixel (centre excluded), as scikit-image's J-invariant helper.
_FILL = np.array([[0.5, 1.0, 0.5], [1.0, 0.0, 1.0], [0.5, 1.0, 0.5]]) / 6.0
MIN_TISSUE = 64  # pixels a slice needs inside the mask to be scored on its own


def _ndimage():
    """scipy.ndimage, imported on first use: the main window imports this module (for its tooltips)
    before it is shown, and scipy / scikit-image are imported in the background after that."""
    from scipy import ndimage

    return ndimage


def _skfilters():
    import skimage.filters

    return skimage.filters


def _stack(data: np.ndarray, axis: int) -> np.ndarray:
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        return data[None]
    if data.ndim != 3:
        raise ValueError(f"expected a 2D slice or a 3D volume, got {data.ndim}D")
    return np.moveaxis(data, axis, 0)


def tissue_mask(image: np.ndarray, erode: int = 1) -> np.ndarray:
    """Tissue of a (noisy) 2D slice or 3D stack: Otsu of a lightly smoothed copy, holes filled,
    eroded ``erode`` pixels in-plane so edges (and the Rayleigh background) stay out."""
    image = np.asarray(image, dtype=np.float32)
    if image.size == 0 or float(image.max()) == float(image.min()):
        return np.zeros(image.shape, bool)
    sigma = (0, 1, 1) if image.ndim == 3 else 1
    smooth = _ndimage().gaussian_filter(image, sigma)
    mask = smooth > _skfilters().threshold_otsu(smooth)
    if image.ndim == 3:
        mask = np.stack([_ndimage().binary_fill_holes(m) for m in mask])
        structure = np.zeros((3, 3, 3), bool)
        structure[1] = True
    else:
        mask = _ndimage().binary_fill_holes(mask)
        structure = None
    if erode:
        mask = _ndimage().binary_erosion(mask, structure=structure, iterations=erode)
    return mask


def _highpass(stack: np.ndarray) -> np.ndarray:
    k = _LAPLACE_DIFF[None] if stack.ndim == 3 else _LAPLACE_DIFF
    return _ndimage().convolve(stack.astype(np.float64), k, mode="reflect") / 6.0


def _slice_sigmas(stack: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-slice sigma (NaN where a slice has too little tissue) and the volume's (pooled median)."""
    hp = np.abs(_highpass(stack))
    per = np.full(len(stack), np.nan)
    for i in range(len(stack)):
        if mask[i].sum() >= MIN_TISSUE:
            per[i] = float(np.median(hp[i][mask[i]])) * _MAD_TO_SIGMA
    pooled = hp[mask] if mask.sum() >= MIN_TISSUE else hp.ravel()
    return per, float(np.median(pooled)) * _MAD_TO_SIGMA


def estimate_sigma(data01: np.ndarray, axis: int = 2, mask: np.ndarray | None = None) -> float:
    """Noise sigma of a normalised slice or volume, measured in its tissue (see module doc)."""
    stack = _stack(data01, axis)
    m = tissue_mask(stack) if mask is None else _stack(mask, axis).astype(bool)
    return _slice_sigmas(stack, m)[1]


def background_sigma(data: np.ndarray, axis: int = 2) -> float | None:
    """Noise sigma from the air around the head, in ``data``'s own units (raw, not normalised:
    percentile normalisation shifts the background). There magnitude MRI is Rayleigh-distributed,
    whose median is sigma * sqrt(2 ln 2). None when there is too little background or it was
    zero-filled by the scanner. Ghosting or stray structures there make it an overestimate."""
    stack = _stack(data, axis)
    tissue = tissue_mask(stack, erode=0)
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = True
    far = ~_ndimage().binary_dilation(tissue, structure=structure, iterations=4)
    values = stack[far]
    if values.size < 1000 or float(np.mean(values == 0)) > 0.5:
        return None
    return float(np.median(values)) / math.sqrt(2.0 * math.log(2.0))


# ------------------------------------------------------------------ J-invariant loss

def grid_offsets(grid: int, n_masks: int | None = None, seed: int = 0) -> list[tuple[int, int]]:
    """``n_masks`` of the grid x grid pixel phases (all of them when None), in a seeded order."""
    phases = [(i, j) for i in range(grid) for j in range(grid)]
    if n_masks is None or n_masks >= len(phases):
        return phases
    order = np.random.default_rng(seed).permutation(len(phases))[:n_masks]
    return [phases[k] for k in sorted(order)]


def hide_pixels(stack: np.ndarray, grid: int, offset: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The stack with one grid phase of pixels replaced by their neighbours' mean, and that phase's mask."""
    stack = np.asarray(stack, dtype=np.float32)
    hidden = np.zeros(stack.shape[-2:], bool)
    hidden[offset[0]::grid, offset[1]::grid] = True
    k = _FILL[None] if stack.ndim == 3 else _FILL
    filled = _ndimage().convolve(stack, k.astype(np.float32), mode="reflect")
    return np.where(hidden, filled, stack).astype(np.float32), hidden


def j_invariant_loss(noisy01: np.ndarray, denoise: Callable[[np.ndarray], np.ndarray], axis: int = 2,
                     mask: np.ndarray | None = None, grid: int = 4, n_masks: int | None = 4,
                     seed: int = 0) -> dict:
    """J-invariant loss of ``denoise`` (a function of an (N, H, W) stack) on ``noisy01``.

    Returns {"volume": mean over tissue pixels, "per_slice": list (NaN without tissue)}.
    ``n_masks`` of the grid**2 phases are used (each hides 1/grid**2 of the pixels), so the cost
    is ``n_masks`` denoiser runs; all phases score every pixel once.
    """
    stack = _stack(noisy01, axis)
    m = tissue_mask(stack, erode=0) if mask is None else _stack(mask, axis).astype(bool)
    sq = np.zeros(len(stack))
    count = np.zeros(len(stack))
    for offset in grid_offsets(grid, n_masks, seed):
        masked, hidden = hide_pixels(stack, grid, offset)
        out = np.asarray(denoise(masked), dtype=np.float64).reshape(stack.shape)
        where = m & hidden[None]
        err = np.where(where, (out - stack) ** 2, 0.0)
        sq += err.sum(axis=(1, 2))
        count += where.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.where(count > 0, sq / np.maximum(count, 1), np.nan)
    total = float(sq.sum() / count.sum()) if count.sum() else float("nan")
    return {"volume": total, "per_slice": per.tolist()}


# ------------------------------------------------------------------ SURE (estimated error)

def sure_mse(noisy01: np.ndarray, denoise: Callable[[np.ndarray], np.ndarray], sigma: float, axis: int = 2,
             mask: np.ndarray | None = None, eps: float | None = None, seed: int = 0,
             rician: bool = False) -> dict:
    """Monte-Carlo SURE (Stein's unbiased risk estimate; Ramani, Blu & Unser 2008) of the mean
    squared error of ``denoise`` itself against the unseen clean image, in the tissue.

    Per pixel: (f(y) - y)^2 - sigma^2 + 2 sigma^2 df/dy, the derivative probed with one random
    +-1 perturbation of size ``eps``. Unbiased for Gaussian noise of known sigma (Rician noise in
    tissue is close), and unlike the J-invariant loss it scores the denoiser as it is used.
    ``rician``: magnitude data, whose noise is not zero-mean: plain SURE measures the error against
    the noisy mean E[y], which sits above the signal x in dark tissue, and so favours a denoiser that
    keeps that floor over one that removes it. With b = E[y] - x per pixel (``core.rician``),
    |f - x|^2 = |f - E[y]|^2 + 2 (f - E[y]) b + b^2 puts the error back against x, and the
    noise variance per pixel (lower than sigma^2 there) replaces sigma^2.
    Returns {"volume": mse, "per_slice": [...], "psnr": 10 log10(1 / mse) (None if mse <= 0)}.
    """
    stack = _stack(noisy01, axis)
    m = tissue_mask(stack, erode=0) if mask is None else _stack(mask, axis).astype(bool)
    sigma = float(sigma)
    eps = 0.02 * sigma if eps is None else float(eps)
    probe = np.random.default_rng(seed).choice(np.float32([-1.0, 1.0]), size=stack.shape)
    out = np.asarray(denoise(stack), dtype=np.float64).reshape(stack.shape)
    moved = np.asarray(denoise((stack + eps * probe).astype(np.float32)), dtype=np.float64).reshape(stack.shape)
    variance = sigma**2
    if rician:
        from mri_denoise_gui.core.rician import floor_map

        mean, floor, variance = (a.astype(np.float64) for a in floor_map(stack, sigma))
    terms = (out - stack) ** 2 - variance + 2.0 * variance * probe * (moved - out) / eps
    if rician:
        terms = terms + floor * (2.0 * (out - mean) + floor)
    terms = np.where(m, terms, 0.0)
    count = m.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.where(count > 0, terms.sum(axis=(1, 2)) / np.maximum(count, 1), np.nan)
    mse = float(terms.sum() / count.sum()) if count.sum() else float("nan")
    psnr = float(10.0 * np.log10(1.0 / mse)) if mse > 0 else None
    return {"volume": mse, "per_slice": per.tolist(), "psnr": psnr}


# ------------------------------------------------------------------ residual figures

def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 3 or float(a.std()) == 0 or float(b.std()) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def residual_figures(noisy01: np.ndarray, denoised01: np.ndarray, axis: int = 2,
                     mask: np.ndarray | None = None, sigma: float | None = None) -> dict:
    """Residual-to-sigma ratio and residual structure, per slice and per volume."""
    noisy, den = _stack(noisy01, axis), _stack(denoised01, axis)
    if noisy.shape != den.shape:
        raise ValueError(f"shapes differ: noisy {noisy.shape} vs denoised {den.shape}")
    m = tissue_mask(noisy) if mask is None else _stack(mask, axis).astype(bool)
    sigma = estimate_sigma(noisy, axis=0) if sigma is None else float(sigma)
    residual = noisy.astype(np.float64) - den
    # edges of the lightly smoothed noisy image: the same map whichever denoiser is scored
    edges = np.stack([_skfilters().sobel(_ndimage().gaussian_filter(s.astype(np.float64), 1.5)) for s in noisy])
    ratio, structure = [], []
    for i in range(len(noisy)):
        r, e = residual[i][m[i]], edges[i][m[i]]
        if r.size < MIN_TISSUE:
            ratio.append(float("nan"))
            structure.append(float("nan"))
            continue
        ratio.append(float(r.std()) / sigma if sigma > 0 else float("nan"))
        structure.append(_corr(np.abs(r), e))
    r_all, e_all = residual[m], edges[m]
    return {
        "residual_ratio": {"volume": float(r_all.std()) / sigma if sigma > 0 and r_all.size else float("nan"),
                           "per_slice": ratio},
        "residual_structure": {"volume": _corr(np.abs(r_all), e_all), "per_slice": structure},
    }


def noref_report(noisy01: np.ndarray, denoised01: np.ndarray | None = None,
                 denoise: Callable[[np.ndarray], np.ndarray] | None = None, axis: int = 2,
                 n_masks: int | None = 4) -> dict:
    """Every reference-free figure that the inputs allow, each {"volume": x, "per_slice": [...]}.

    ``denoise`` (a function of an (N, H, W) stack in [0, 1]) adds the J-invariant loss; without
    ``denoised01`` it is also used to make the denoised image.
    """
    noisy = _stack(noisy01, axis)
    mask, inner = tissue_mask(noisy, erode=0), tissue_mask(noisy)  # scored / where sigma is measured
    per, sigma = _slice_sigmas(noisy, inner)
    report: dict = {"sigma": {"volume": sigma, "per_slice": per.tolist()},
                    "tissue_fraction": float(mask.mean())}
    if denoised01 is None and denoise is not None:
        den = np.asarray(denoise(noisy), dtype=np.float32)
    elif denoised01 is not None:
        den = _stack(denoised01, axis)
    else:
        den = None
    if den is not None:
        per_out, sigma_out = _slice_sigmas(den, inner)
        report["sigma_out"] = {"volume": sigma_out, "per_slice": per_out.tolist()}
        report.update(residual_figures(noisy, den, axis=0, mask=inner, sigma=sigma))
    if denoise is not None:
        report["j_invariant_loss"] = j_invariant_loss(noisy, denoise, axis=0, mask=mask, n_masks=n_masks)
    return report
