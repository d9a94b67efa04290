"""Synthetic noise on normalised [0, 1] images, reproducible with a seed.

`variance` means what scikit-image means by it: the variance of the added Gaussian
(variance 0.0025 = sigma 0.05 = 5% of the normalised range). Rician is the magnitude of the
image plus complex Gaussian noise of that variance per channel, which is what magnitude MRI has.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.util import random_noise

NOISE_KINDS = ("gaussian", "localvar", "rician", "speckle", "poisson")

DESCRIPTIONS = {
    "gaussian": "additive Gaussian, the same everywhere",
    "localvar": "the tutorial's skimage 'localvar' (a per-voxel variance map; uniform here)",
    "rician": "magnitude of complex Gaussian noise: what magnitude MRI really has",
    "speckle": "multiplicative: image + image * Gaussian",
    "poisson": "shot noise: variance proportional to intensity (equals `variance` at 1.0)",
}


class NoiseError(ValueError):
    """Bad noise settings; the message lists the valid choices."""


def sigma_from_variance(variance: float) -> float:
    return math.sqrt(max(float(variance), 0.0))


def variance_from_sigma(sigma: float) -> float:
    return float(sigma) ** 2


def _check(image01: np.ndarray, kind: str, variance: float) -> np.ndarray:
    if kind not in NOISE_KINDS:
        raise NoiseError(f"unknown noise kind {kind!r}; choose one of: {', '.join(NOISE_KINDS)}")
    try:
        variance = float(variance)
    except (TypeError, ValueError):
        raise NoiseError(f"variance must be a number, got {variance!r}") from None
    if not math.isfinite(variance) or variance < 0:
        raise NoiseError(f"variance must be a finite number >= 0, got {variance}")
    image = np.asarray(image01, dtype=np.float32)
    if image.ndim not in (2, 3):
        raise NoiseError(f"noise needs a 2D or 3D image, got {image.ndim}D")
    if not np.isfinite(image).all():
        raise NoiseError("the image contains NaN or Inf")
    check_normalised(image)
    return image


# A robustly normalised volume has at most 0.5% of its voxels beyond each percentile bound, so
# far beyond [0, 1] they are rare; an image in scanner units has most voxels there.
NORMALISED_RANGE = (-0.5, 2.0)
MAX_OUTSIDE_FRACTION = 0.01


def check_normalised(image01: np.ndarray) -> None:
    """Refuse an image that was not normalised, but not a normalised one with a few hot voxels.

    The one decision the command line and the window share: a single very bright voxel (kept
    above 1 by the CLI, clipped by the window) must not make either refuse the volume.
    """
    image = np.asarray(image01)
    if not image.size:
        return
    lo, hi = NORMALISED_RANGE
    outside = np.count_nonzero((image < lo) | (image > hi))
    if outside > MAX_OUTSIDE_FRACTION * image.size:
        raise NoiseError(f"noise is defined on images normalised to [0, 1], but {100 * outside / image.size:.0f}% "
                         f"of the voxels are outside [{lo:g}, {hi:g}]; normalise first")


POISSON_EXACT_MAX = 1e7  # mean counts above which the normal approximation is used (numpy's limit is ~1e18)


def _poisson(image: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    """Shot noise on the non-negative part; intensities below 0 (below the normaliser's low
    percentile) have no counts and keep their value."""
    lam = np.maximum(image.astype(np.float64), 0.0) / variance
    big = lam > POISSON_EXACT_MAX
    counts = rng.poisson(np.where(big, 0.0, lam)).astype(np.float64)
    if big.any():
        counts[big] = lam[big] + np.sqrt(lam[big]) * rng.standard_normal(int(big.sum()))
    return (counts * variance + np.minimum(image, 0.0)).astype(np.float32)


def add_noise(
    image01: np.ndarray,
    kind: str,
    variance: float,
    seed: int | None = None,
    clip: bool = True,
) -> np.ndarray:
    image = _check(image01, kind, variance)
    variance = float(variance)
    rng = np.random.default_rng(seed)
    if variance == 0:
        return image.copy()
    if kind == "rician":
        sigma = sigma_from_variance(variance)
        real = image + rng.normal(0.0, sigma, image.shape).astype(np.float32)
        imag = rng.normal(0.0, sigma, image.shape).astype(np.float32)
        out = np.sqrt(real * real + imag * imag)
    elif kind == "poisson":
        # skimage's own 'poisson' ignores the variance; scale counts so that the noise
        # variance at intensity 1.0 is `variance` and the user's number keeps its meaning.
        out = _poisson(image, variance, rng)
    elif kind == "localvar":
        local_vars = np.full(image.shape, variance, dtype=np.float64)
        out = random_noise(image, mode="localvar", rng=rng, clip=False, local_vars=local_vars)
    else:
        out = random_noise(image, mode=kind, rng=rng, clip=False, var=variance, mean=0.0)
    out = np.asarray(out, dtype=np.float32)
    if clip:
        # Clip to [0, 1], widened to the input's own range: voxels brighter than the robust
        # 99.5th percentile (normalised > 1) keep their values instead of being flattened.
        lo = min(0.0, float(image.min())) if image.size else 0.0
        hi = max(1.0, float(image.max())) if image.size else 1.0
        np.clip(out, lo, hi, out=out)
    return out
