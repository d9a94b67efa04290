"""The Rician noise floor of magnitude MRI: how far the noisy mean sits above the true signal.

Why: a magnitude image's noise is not zero-mean. Where the signal x is a few sigma or less (CSF in
a T1, white matter in a T2, the air) the noisy mean E[y] lies above x (by sigma * sqrt(pi/2) at
x = 0, about sigma^2 / 2x when x >> sigma). Anything that learns or scores against the noisy scan
itself (recorrupted-pair targets, SURE) sees E[y], not x, and so rewards keeping that floor;
subtracting an estimate of it points them back at x.
"""

from __future__ import annotations

import numpy as np

#: the noise a scan is taken to have: magnitude MRI is Rician; "gaussian" for a real-valued image
NOISE_MODELS = ("rician", "gaussian")


def rician_mean(x: np.ndarray, sigma: float) -> np.ndarray:
    """E[y] for Rician noise of ``sigma`` on true magnitude ``x``:
    sigma sqrt(pi/2) L_1/2(-x^2 / 2 sigma^2), with exponentially scaled Bessel functions so that it
    stays finite at high SNR (where it tends to sqrt(x^2 + sigma^2))."""
    from scipy import special

    x = np.asarray(x, dtype=np.float64)
    z = x**2 / (4.0 * sigma**2)  # the Bessel argument, -t/2 with t = -x^2 / 2 sigma^2
    return sigma * np.sqrt(np.pi / 2.0) * ((1.0 + 2.0 * z) * special.i0e(z) + 2.0 * z * special.i1e(z))


def signal_estimate(stack: np.ndarray, sigma: float, size: int = 5) -> np.ndarray:
    """x estimated from the local second moment, E[y^2] = x^2 + 2 sigma^2 (exact for Rician),
    over ``size`` x ``size`` windows of each slice of an (N, H, W) stack."""
    from scipy import ndimage

    m2 = ndimage.uniform_filter(np.asarray(stack, np.float64) ** 2, size=(1, size, size), mode="reflect")
    return np.sqrt(np.maximum(m2 - 2.0 * sigma**2, 0.0))


def floor_map(stack: np.ndarray, sigma: float, size: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E[y], E[y] - x, Var[y]) per pixel of an (N, H, W) stack of noisy magnitude slices, x from
    ``signal_estimate``: the expected noisy value, the noise floor above the signal, and the noise
    variance, x^2 + 2 sigma^2 - E[y]^2 (below sigma^2 where the signal is dark)."""
    x = signal_estimate(stack, sigma, size)
    mean = rician_mean(x, sigma)
    variance = np.maximum(x**2 + 2.0 * sigma**2 - mean**2, 0.0)
    return mean.astype(np.float32), (mean - x).astype(np.float32), variance.astype(np.float32)
