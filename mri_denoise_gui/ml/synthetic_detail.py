"""Detail-rich clean images: photographs bundled with scikit-image, made to look like slices.

Why (issue 14, benchmarks/README.md "Real scans"): every clean image the default trained on is
cut from one template, the MNI152 average of 152 brains, which is smooth at the voxel scale. A
network that only ever saw smooth truths learns that fine structure is noise, and on real scans
it smooths away anatomy one or two voxels wide (worse than its noisy input at 3 % on the small and
coarse scans) where BM3D, which assumes nothing about smoothness, keeps it. Real single-subject
scans that may be trained on are not to be had here (the ones in dipy, nibabel and pydicom are
reserved for evaluation), so this domain brings real fine detail, edges and texture at every
scale from the photographs that ship inside scikit-image's wheel (no download), under an
MRI-like intensity mapping and often inside a dark background, so that Rician noise and the
in-model noise estimate see what they see on a scan. The images are split once into training
and validation images; validation images never enter the training stream.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: scikit-image sample images (bundled in its wheel) used as training truths
TRAIN_IMAGES = ("astronaut", "camera", "coffee", "chelsea", "brick", "grass", "gravel", "rocket",
                "hubble_deep_field", "immunohistochemistry", "cell", "page", "text",
                "clock", "horse")
#: held out from training: the detail validation set is cut from these only
VALIDATION_IMAGES = ("moon", "coins", "retina")


@lru_cache(maxsize=None)
def load_image(name: str) -> np.ndarray:
    """One bundled sample image as float32 grey in [0, 1]."""
    from skimage import color, data

    img = np.asarray(getattr(data, name)())
    if img.ndim == 3:
        img = color.rgb2gray(img[..., :3])
    img = img.astype(np.float32)
    lo, hi = float(img.min()), float(img.max())
    return (img - lo) / max(hi - lo, 1e-6)


def _background(shape, rng: np.random.Generator) -> np.ndarray:
    """A soft ellipse (the object) on a dark field: where a scan has air, Rician noise has a floor."""
    from scipy import ndimage  # here, not at import: synthetic_sets reads this module's image lists

    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = h * rng.uniform(0.4, 0.6), w * rng.uniform(0.4, 0.6)
    ry, rx = h * rng.uniform(0.3, 0.55), w * rng.uniform(0.3, 0.55)
    inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    return ndimage.gaussian_filter(inside.astype(np.float32), rng.uniform(0.5, 2.0))


def detail_slice(rng: np.random.Generator, names=TRAIN_IMAGES, size: int = 160) -> np.ndarray:
    """One clean detail image of about ``size`` px, float32 in [0, 1]."""
    from scipy import ndimage

    img = load_image(str(rng.choice(list(names))))
    # the scale of the detail: shrink 1-3x with antialiasing (a coarser voxel over the same scene)
    factor = float(rng.uniform(1.0, 3.0))
    side = int(min(min(img.shape), round(size * factor)))
    y = int(rng.integers(0, img.shape[0] - side + 1))
    x = int(rng.integers(0, img.shape[1] - side + 1))
    crop = img[y:y + side, x:x + side]
    if factor > 1.05:
        crop = ndimage.zoom(ndimage.gaussian_filter(crop, 0.4 * factor), 1.0 / factor, order=1)
    crop = np.rot90(crop, int(rng.integers(4)))
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    if rng.random() < 0.4:  # contrast inversion: dark-on-bright detail as in T2 / FLAIR
        crop = 1.0 - crop
    crop = np.clip(crop, 0, 1) ** rng.uniform(0.6, 1.6)
    # an MRI-like level: tissue occupies part of the range, a floor above zero
    crop = rng.uniform(0.0, 0.3) + crop * rng.uniform(0.4, 0.9)
    if rng.random() < 0.5:
        crop = crop * _background(crop.shape, rng)
    crop = crop.astype(np.float32)
    return crop / max(float(crop.max()), 1e-6)
