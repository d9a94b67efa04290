"""Self-supervised training pairs from noisy slices alone (no clean data): the two families.

- ``n2v``: blind-spot masking (Noise2Void with N2V2's median replacement, Noise2Self): one pixel
  per ``box`` x ``box`` cell of a stratified grid is replaced by the median of its 5x5 neighbours
  without the centre; the loss is taken on those pixels only, so the net cannot learn identity.
- ``r2r``: recorrupted pairs (Recorrupted-to-Recorrupted): from the noisy y and its noise sigma,
  input y + alpha*z and target y - z/alpha with z ~ N(0, sigma^2). The two noises are independent,
  so the expected loss is the clean-target loss plus a constant; the net stays non-blind. On
  magnitude (Rician) data the target's mean is E[y], above the signal where it is dark; with a
  noise-floor map (``core.rician.floor_map``) the target is y - z/alpha - floor, whose mean is x.

Targets travel as two channels (value, weight) so one masked loss serves both methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mri_denoise_gui.ml.data import random_patch
from mri_denoise_gui.ml.training_choices import ADAPT_METHOD_NAMES as METHOD_NAMES, ADAPT_METHODS as METHODS  # noqa: F401 - re-exported

_RING = np.ones((5, 5), bool)
_RING[2, 2] = False


def blind_spot(patch: np.ndarray, box: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """N2V2 masking: one random pixel per ``box`` cell replaced by its 5x5 ring median; returns
    (masked input, weight map that is 1 on the replaced pixels)."""
    h, w = patch.shape
    ys = np.arange(0, h, box)[:, None] + rng.integers(0, box, (len(range(0, h, box)), len(range(0, w, box))))
    xs = np.arange(0, w, box)[None, :] + rng.integers(0, box, ys.shape)
    keep = (ys < h) & (xs < w)
    ys, xs = ys[keep], xs[keep]
    padded = np.pad(patch, 2, mode="reflect")
    windows = np.stack([padded[y:y + 5, x:x + 5][_RING] for y, x in zip(ys, xs)])
    masked = patch.copy()
    masked[ys, xs] = np.median(windows, axis=1)
    weight = np.zeros_like(patch)
    weight[ys, xs] = 1.0
    return masked, weight


def recorrupt(patch: np.ndarray, sigma: float, alpha: float, rng: np.random.Generator,
              floor: np.ndarray | None = None):
    """R2R pair: (y + alpha z, y - z / alpha [- floor], weight 1 everywhere)."""
    z = rng.normal(0.0, sigma, patch.shape).astype(np.float32)
    target = patch - z / alpha if floor is None else patch - z / alpha - floor
    return patch + alpha * z, target, np.ones_like(patch)


def augment(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One of the 8 flips / quarter turns of the last two axes (noise is isotropic, anatomy
    nearly so)."""
    patch = np.rot90(patch, int(rng.integers(0, 4)), axes=(-2, -1))
    return np.ascontiguousarray(patch[..., ::-1] if rng.integers(0, 2) else patch)


@dataclass
class SlicePool:
    """Noisy normalised slices (each with its volume's sigma) to draw training patches from."""

    slices: list  # of 2D float32 arrays
    sigmas: list  # noise sigma of each slice's volume (normalised units)
    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    floors: list | None = None  # Rician noise-floor map of each slice (r2r targets subtract it)

    def pair(self, method: str, patch: int, alpha: float = 1.0, box: int = 8):
        """(input, two-channel target) for one random patch."""
        i = int(self.rng.integers(0, len(self.slices)))
        floor = None
        if self.floors is not None and method == "r2r":
            y, floor = augment(random_patch(np.stack([self.slices[i], self.floors[i]]), patch, self.rng), self.rng)
        else:
            y = augment(random_patch(self.slices[i], patch, self.rng), self.rng)
        if method == "r2r":
            x, t, w = recorrupt(y, self.sigmas[i], alpha, self.rng, floor)
        elif method == "n2v":
            (x, w), t = blind_spot(y, box, self.rng), y
        else:
            raise ValueError(f"unknown adaptation method {method!r}; choose from {', '.join(METHODS)}")
        return x[..., None].astype(np.float32), np.stack([t, w], axis=-1).astype(np.float32)

    def batch(self, n: int, method: str, patch: int, alpha: float = 1.0, box: int = 8):
        pairs = [self.pair(method, patch, alpha, box) for _ in range(n)]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def masked_mse(y_true, y_pred):
    """Mean squared error over the weighted pixels (channel 1 of ``y_true`` holds the weights)."""
    from keras import ops

    target, weight = y_true[..., :1], y_true[..., 1:2]
    return ops.sum(weight * ops.square(y_pred - target)) / ops.maximum(ops.sum(weight), 1.0)
