"""Training data: NIfTI volumes (or synthetic MNI slices) -> random clean patches -> noisy pairs.

Clean volumes are normalised once (core Normaliser) and kept as float16; patches are cut,
augmented and made noisy on the fly in a tf.data pipeline, so memory stays bounded by the clean
data plus a shuffle buffer, never by all noisy/clean pairs. Train and validation are split by
volume (one volume: by slab along file axis 2 with a gap), never by slice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from mri_denoise_gui.core.noise import NOISE_KINDS, NoiseError, add_noise
from mri_denoise_gui.core.normalize import Normalizer
from mri_denoise_gui.core.volume import count_volumes, has_nifti_suffix, load_volume
from mri_denoise_gui.ml.training_choices import NOISE_WEIGHTINGS, TRAIN_NOISE_KINDS  # noqa: F401 - re-exported

SLAB_GAP = 8  # slices left unused between train and validation slabs of a single volume


def find_nifti_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (recursively) into a sorted, de-duplicated list of NIfTI files."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found.extend(sorted(q for q in p.rglob("*") if q.is_file() and has_nifti_suffix(q)))
        elif p.is_file():
            found.append(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    unique = sorted({q.resolve() for q in found})
    if not unique:
        raise ValueError("no NIfTI files (.nii / .nii.gz) found in the training data paths")
    return unique


def smallest_slice(files: Sequence[Path], axes: Sequence[int] = (2,)) -> tuple[int, Path] | None:
    """The shortest side of any slice training would cut from ``files``, and its file.

    Read from the NIfTI headers only, so a patch size that cannot fit (and would be zero-padded
    up to, allocating patch^2 per sample) is refused before any volume is loaded. Files nibabel
    cannot open are skipped here: loading them says why."""
    import nibabel as nib

    best = None
    for path in files:
        try:
            shape = tuple(int(s) for s in nib.load(str(path)).shape[:3])
        except Exception:  # noqa: BLE001 - load_volume reports unreadable files in one line
            continue
        shape = shape + (1,) * (3 - len(shape))
        for axis in axes:
            side = min(s for i, s in enumerate(shape) if i != axis)
            if best is None or side < best[0]:
                best = (side, Path(path))
    return best


@dataclass
class Region:
    """A clean normalised volume, or the slab of it (file-axis-2 range) one side of a split uses."""

    path: str
    data: np.ndarray  # float16, normalised to [0, 1], already cut to the slab
    z_range: tuple[int, int]

    def n_slices(self, axis: int, central_fraction: float) -> int:
        return len(central_indices(self.data.shape[axis], central_fraction))


def central_indices(n: int, fraction: float) -> range:
    """The central ``fraction`` of ``n`` slice indices (at least one)."""
    keep = max(1, int(round(n * fraction)))
    start = (n - keep) // 2
    return range(start, start + keep)


def split_by_volume(files: Sequence[Path], val_fraction: float, seed: int = 0):
    """Split whole files into train and validation lists (disjoint), seeded and reproducible.

    Returns ``(train, val, mode)``; with a single file ``mode == "slab"`` and both lists hold it:
    the caller then cuts the volume into a training slab and a validation slab.
    """
    files = list(files)
    if len(files) == 1:
        return files, files, "slab"
    order = np.random.default_rng(seed).permutation(len(files))
    n_val = min(len(files) - 1, max(1, int(round(len(files) * val_fraction))))
    val = sorted(files[i] for i in order[:n_val])
    train = sorted(files[i] for i in order[n_val:])
    return train, val, "volume"


def slab_ranges(n: int, val_fraction: float, gap: int = SLAB_GAP) -> tuple[tuple[int, int], tuple[int, int]]:
    """Train and validation index ranges along one axis of a single volume, ``gap`` apart."""
    gap = min(gap, max(0, n // 10))
    n_val = max(1, int(round(n * val_fraction)))
    n_train = n - n_val - gap
    if n_train < 1:
        raise ValueError(f"a single volume with {n} slices is too thin to split into train and validation")
    return (0, n_train), (n - n_val, n)


def load_regions(files: Sequence[Path], normalizer: Normalizer, val_fraction: float, seed: int = 0,
                 volume_index: int = 0):
    """Load, normalise and split the training files into train and validation Regions.

    ``volume_index`` picks the volume of 4D files (an fMRI/DWI series: one b-value or time point);
    3D files in the same set are read as they are, so mixed folders train without renaming."""
    train_files, val_files, mode = split_by_volume(files, val_fraction, seed)

    def load(path: Path):
        vol = load_volume(path, volume_index=volume_index if count_volumes(path) > 1 else 0)
        norm = normalizer.fit(vol.data)
        return norm.forward(vol.data, clip=True).astype(np.float16)

    if mode == "slab":
        data = load(train_files[0])
        (a, b), (c, d) = slab_ranges(data.shape[2], val_fraction)
        return ([Region(str(train_files[0]), data[:, :, a:b], (a, b))],
                [Region(str(val_files[0]), data[:, :, c:d], (c, d))], mode)
    train = []
    for f in train_files:
        data = load(f)
        train.append(Region(str(f), data, (0, data.shape[2])))
    val = []
    for f in val_files:
        data = load(f)
        val.append(Region(str(f), data, (0, data.shape[2])))
    return train, val, mode


def random_patch(image: np.ndarray, patch: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``patch`` x ``patch`` crop of the last two axes (a stack of slices is cut at the
    same place in each); images smaller than that are zero-padded at random."""
    lead = ((0, 0),) * (image.ndim - 2)
    h, w = image.shape[-2:]
    ph, pw = max(0, patch - h), max(0, patch - w)
    if ph or pw:
        top, left = int(rng.integers(0, ph + 1)), int(rng.integers(0, pw + 1))
        image = np.pad(image, (*lead, (top, ph - top), (left, pw - left)))
        h, w = image.shape[-2:]
    y = int(rng.integers(0, h - patch + 1))
    x = int(rng.integers(0, w - patch + 1))
    return np.asarray(image[..., y:y + patch, x:x + patch], dtype=np.float32)


@dataclass
class VolumePatchSampler:
    """Random clean patches from Regions, along the chosen axes, central slices only."""

    regions: list[Region]
    patch: int
    axes: tuple[int, ...] = (2,)
    central_fraction: float = 0.8
    rng: np.random.Generator = field(default_factory=np.random.default_rng)

    def __post_init__(self):
        sizes = [sum(r.n_slices(a, self.central_fraction) for a in self.axes) for r in self.regions]
        self._weights = np.asarray(sizes, float) / max(sum(sizes), 1)

    def sample(self) -> np.ndarray:
        region = self.regions[int(self.rng.choice(len(self.regions), p=self._weights))]
        axis = int(self.rng.choice(self.axes))
        idx = central_indices(region.data.shape[axis], self.central_fraction)
        index = int(self.rng.choice(idx))
        key = (slice(None),) * axis + (index,)
        return random_patch(region.data[key], self.patch, self.rng)


@dataclass
class SyntheticPatchSampler:
    """Random clean patches from synthetic-contrast MNI slices (a few patches per slice)."""

    maps: list  # of synthetic.TissueMaps slabs, picked in proportion to their size
    patch: int
    axes: tuple[int, ...] = (0, 1, 2)
    patches_per_slice: int = 4
    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    #: share of slices from the coarse / thick-slice / small-matrix domain (ml/synthetic_coarse.py);
    #: 0 draws exactly the original stream. A coarse slice is about one patch, so it gives half as many
    coarse_share: float = 0.0
    #: share of slices that are detail-rich photographs (ml/synthetic_detail.py), drawn from
    #: ``detail_images``; 0 draws exactly the original stream
    detail_share: float = 0.0
    detail_images: tuple[str, ...] | None = None
    #: share of slices interpolated onto a finer grid (ml/synthetic_oversampled.py); 0: the original stream
    oversampled_share: float = 0.0

    def __post_init__(self):
        self._current = None
        self._left = 0
        sizes = np.asarray([m.shape[2] for m in self.maps], float)
        self._weights = sizes / sizes.sum()

    def sample(self) -> np.ndarray:
        from mri_denoise_gui.ml.synthetic import synth_slice

        if self._left <= 0 or self._current is None:
            maps = self.maps[int(self.rng.choice(len(self.maps), p=self._weights))]
            if self.detail_share > 0 and self.rng.random() < self.detail_share:
                from mri_denoise_gui.ml import synthetic_detail

                names = self.detail_images or synthetic_detail.TRAIN_IMAGES
                self._current = synthetic_detail.detail_slice(self.rng, names)
                self._left = self.patches_per_slice
            elif self.oversampled_share > 0 and self.rng.random() < self.oversampled_share:
                from mri_denoise_gui.ml.synthetic_oversampled import oversampled_slice

                self._current = oversampled_slice(maps, self.rng, axis=int(self.rng.choice(self.axes)))
                self._left = self.patches_per_slice
            elif self.coarse_share > 0 and self.rng.random() < self.coarse_share:
                from mri_denoise_gui.ml.synthetic_coarse import coarse_slice

                self._current = coarse_slice(maps, self.rng, axis=int(self.rng.choice(self.axes)))
                self._left = max(1, self.patches_per_slice // 2)
            else:
                self._current = synth_slice(maps, self.rng, axis=int(self.rng.choice(self.axes)))
                self._left = self.patches_per_slice
        self._left -= 1
        return random_patch(self._current, self.patch, self.rng)


def sigma_range(variance_range: tuple[float, float]) -> tuple[float, float]:
    lo, hi = variance_range
    return math.sqrt(lo), math.sqrt(hi)


def check_noise_kind(kind: str) -> None:
    if kind not in TRAIN_NOISE_KINDS:
        raise NoiseError(f"unknown noise kind {kind!r}; choose one of: {', '.join(TRAIN_NOISE_KINDS)}")


def noisy_numpy(clean: np.ndarray, kind: str, rng: np.random.Generator,
                variance_range: tuple[float, float]) -> np.ndarray:
    """Noisy copy of one clean image with core.add_noise; variance drawn uniform in sigma."""
    lo, hi = sigma_range(variance_range)
    sigma = float(rng.uniform(lo, hi))
    if kind == "rician+gaussian":
        kind = "rician" if rng.random() < 0.5 else "gaussian"
    return add_noise(clean, kind, sigma * sigma, seed=int(rng.integers(2**31)), clip=True)


#: Offsets from a training config's seed for its validation patches and their noise, so the
#: validation set is fixed by the seed yet never drawn from the training stream's generator.
#: Changing them changes every validation set a shipped model was selected on.
VALIDATION_PATCH_SEED_OFFSET = 999
VALIDATION_NOISE_SEED_OFFSET = 4242


def validation_pairs(sampler, n: int, kind: str, variance_range, seed: int = 1234):
    """A fixed set of (noisy, clean) arrays shaped (n, P, P, 1), the same every epoch."""
    rng = np.random.default_rng(seed)
    clean = np.stack([sampler.sample() for _ in range(n)])
    noisy = np.stack([noisy_numpy(c, kind, rng, variance_range) for c in clean])
    return noisy[..., None].astype(np.float32), clean[..., None].astype(np.float32)


# ---------------------------------------------------------------- TensorFlow side

def tf_add_noise(clean, kind: str, variance_range, sigma=None, low_share: float = 0.0):
    """Noise on a batch (B, H, W, 1) in TF ops, one sigma per patch, same definitions as core.noise."""
    import tensorflow as tf

    shape = tf.shape(clean)
    if sigma is None:
        sigma = tf_sample_sigma(shape[0], variance_range, low_share)

    def gaussian():
        return clean + tf.random.normal(shape) * sigma

    def rician():
        real = clean + tf.random.normal(shape) * sigma
        imag = tf.random.normal(shape) * sigma
        return tf.sqrt(real * real + imag * imag)

    if kind in ("gaussian", "localvar"):
        noisy = gaussian()
    elif kind == "rician":
        noisy = rician()
    elif kind == "speckle":
        noisy = clean + clean * tf.random.normal(shape) * sigma
    elif kind == "poisson":
        var = tf.maximum(sigma * sigma, 1e-8)
        noisy = tf.random.poisson([], clean / var) * var
    elif kind == "rician+gaussian":
        pick = tf.random.uniform(tf.stack([shape[0], 1, 1, 1])) < 0.5
        noisy = tf.where(pick, rician(), gaussian())
    else:
        raise NoiseError(f"unknown noise kind {kind!r}")
    top = tf.maximum(1.0, tf.reduce_max(clean, axis=[1, 2, 3], keepdims=True))
    return tf.clip_by_value(noisy, 0.0, top)


#: the top of the "low noise" band that ``low_share`` draws from (3 % of the range)
LOW_NOISE_SIGMA = 0.03


def tf_sample_sigma(batch, variance_range, low_share: float = 0.0):
    """One sigma per patch, uniform in sigma, shaped (B, 1, 1, 1); with ``low_share`` > 0 that
    share of patches is drawn uniform in [low, min(high, 3 %)] instead (fine detail at low noise)."""
    import tensorflow as tf

    lo, hi = sigma_range(variance_range)
    shape = tf.stack([batch, 1, 1, 1])
    sigma = tf.random.uniform(shape, lo, hi)
    if low_share > 0:
        low = tf.random.uniform(shape, lo, max(lo, min(hi, LOW_NOISE_SIGMA)))
        sigma = tf.where(tf.random.uniform(shape) < low_share, low, sigma)
    return sigma


def tf_add_weighted_noise(clean, kind: str, variance_range, weighting: str, low_share: float = 0.0):
    """(noisy, clean, per-patch loss weight) for Keras ``sample_weight``."""
    import tensorflow as tf

    if weighting != "inverse_sigma":
        raise ValueError(f"unknown noise weighting {weighting!r}; choose from {', '.join(NOISE_WEIGHTINGS)}")
    sigma = tf_sample_sigma(tf.shape(clean)[0], variance_range, low_share)
    noisy = tf_add_noise(clean, kind, variance_range, sigma)
    lo, hi = sigma_range(variance_range)
    weight = 0.5 * (lo + hi) / tf.maximum(tf.reshape(sigma, [-1]), 1e-3)
    return noisy, clean, weight


def tf_augment(patch):
    """Random flips and 90-degree rotations of one (H, W, 1) patch."""
    import tensorflow as tf

    patch = tf.image.rot90(patch, k=tf.random.uniform([], 0, 4, dtype=tf.int32))
    patch = tf.image.random_flip_left_right(patch)
    return patch


def training_dataset(sampler_factory: Callable[[int], object], patch: int, batch_size: int,
                     kind: str, variance_range, seed: int = 0, shuffle_buffer: int = 512,
                     weighting: str = "none", low_share: float = 0.0):
    """An endless tf.data stream of (noisy, clean) batches with prefetch; with a ``weighting``
    other than "none", (noisy, clean, per-patch weight) batches. ``low_share``: see tf_sample_sigma."""
    import tensorflow as tf

    check_noise_kind(kind)

    def generate():
        sampler = sampler_factory(seed)
        while True:
            yield sampler.sample()[..., None]

    ds = tf.data.Dataset.from_generator(
        generate, output_signature=tf.TensorSpec((patch, patch, 1), tf.float32))
    ds = ds.shuffle(shuffle_buffer, seed=seed)
    ds = ds.map(tf_augment, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=True)
    if weighting == "none":
        ds = ds.map(lambda c: (tf_add_noise(c, kind, variance_range, low_share=low_share), c),
                    num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda c: tf_add_weighted_noise(c, kind, variance_range, weighting, low_share),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
