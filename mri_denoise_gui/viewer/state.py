"""The data the viewer shows, kept apart from the widgets (no Qt here).

`ViewerData` holds the normalised volumes and the display geometry of the open volume;
`SliceCache` the denoised display slices. Both belong to `viewer.session.ViewerSession`,
whose tokens say which noisy volume and model a cached slice was made with.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mri_denoise_gui.core.noise import NOISE_KINDS
from mri_denoise_gui.core.normalize import Normalizer
from mri_denoise_gui.core.orientation import AXIS_NAMES, SliceGeometry, orientation_warning
from mri_denoise_gui.core.volume import VolumeError

MODE_CLEAN = "clean"  # the file is ground truth; noise is simulated
MODE_NOISY = "noisy"  # the file is a real noisy scan; no ground truth unless a reference is attached
VARIANCE_MAX = 0.25  # sigma 0.5: half the normalised range; the noise spin box's maximum


@dataclass(frozen=True)
class NoiseSettings:
    kind: str = "rician"
    variance: float = 0.0025
    seed: int = 0

    def validated(self) -> "NoiseSettings":
        kind = self.kind if self.kind in NOISE_KINDS else "rician"
        variance = min(max(float(self.variance), 0.0), VARIANCE_MAX)
        seed = min(max(int(self.seed), 0), 2**31 - 1)
        return NoiseSettings(kind, variance, seed)

    def to_dict(self) -> dict:
        return asdict(self)


class SliceCache:
    """Denoised display slices, least recently used dropped first, bounded in bytes."""

    def __init__(self, max_bytes: int = 256 * 2**20):
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0

    def get(self, key: tuple) -> np.ndarray | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: tuple, image: np.ndarray) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old.nbytes
        self._items[key] = image
        self._bytes += image.nbytes
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= dropped.nbytes

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes


@dataclass
class ViewerData:
    """The opened volume in normalised units plus everything derived from it."""

    volume: Any  # core.volume.Volume
    normalizer: Any  # fitted core.normalize.Normalizer
    mode: str
    noisy01: np.ndarray | None  # None while a big noisy volume is being generated
    truth01: np.ndarray | None = None
    reference: Any = None  # the attached reference Volume (noisy mode only)
    denoised01: np.ndarray | None = None  # whole volume, once "Denoise volume" finished
    denoised_tokens: tuple | None = None  # (noise_token, model_token) of denoised01
    mask: np.ndarray | None = None  # foreground of the ground truth, computed on demand
    levels: tuple[float, float] = (0.0, 1.0)
    histogram: tuple[np.ndarray, np.ndarray] | None = None
    residual_level: float = 0.1
    volume_metrics: dict | None = None
    geometries: dict = field(default_factory=dict)

    @property
    def has_truth(self) -> bool:
        return self.truth01 is not None

    def geometry(self, axis_name: str) -> SliceGeometry:
        geom = self.geometries.get(axis_name)
        if geom is None:
            geom = SliceGeometry(self.volume.shape, self.volume.affine, axis_name)
            self.geometries[axis_name] = geom
        return geom

    def foreground(self) -> np.ndarray | None:
        if self.truth01 is None:
            return None
        if self.mask is None:
            from mri_denoise_gui.core.metrics import foreground_mask

            self.mask = foreground_mask(self.truth01)
        return self.mask


def prepare_viewer_data(volume, as_noisy: bool) -> ViewerData:
    """Normalise a loaded volume for viewing (a background job for big volumes).

    A clean volume is normalised without clipping, exactly as `mri-denoise add-noise` does, so
    the window's noisy volume is the command line's and bright voxels keep their values. A real
    noisy scan is clipped (export gives the clipped-off part back).
    """
    if volume.data.size == 0:
        raise VolumeError(f"the volume has no voxels (shape {' x '.join(map(str, volume.data.shape))})")
    warning = orientation_warning(volume.affine)
    if warning is not None and warning not in volume.warnings:
        volume.warnings.append(warning)
    normalizer = Normalizer().fit(volume.data)
    if as_noisy:
        data01 = normalizer.forward(volume.data)
        data = ViewerData(volume=volume, normalizer=normalizer, mode=MODE_NOISY, noisy01=data01)
    else:
        data01 = normalizer.forward(volume.data, clip=False)
        data = ViewerData(volume=volume, normalizer=normalizer, mode=MODE_CLEAN, noisy01=None, truth01=data01)
    data.levels = display_levels(data01)
    data.histogram = volume_histogram(data01)
    return data


def display_levels(image01: np.ndarray, low: float = 0.5, high: float = 99.8) -> tuple[float, float]:
    """Window/level for a whole volume, measured once on a subsample (never per frame)."""
    sample = np.asarray(image01).ravel()[:: max(1, image01.size // 2_000_000)]
    lo, hi = (float(v) for v in np.percentile(sample, [low, high]))
    if not hi > lo:
        lo, hi = float(sample.min()), float(sample.max())
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


def volume_histogram(image01: np.ndarray, bins: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Histogram for the window/level control (centres, counts); log-scaled counts read better."""
    sample = np.asarray(image01).ravel()[:: max(1, image01.size // 2_000_000)]
    counts, edges = np.histogram(sample, bins=bins, range=(0.0, 1.0))
    centres = 0.5 * (edges[:-1] + edges[1:])
    return centres, np.log1p(counts.astype(np.float64))


def file_order_slice(data: np.ndarray, geom: SliceGeometry, index: int) -> np.ndarray:
    """The slice under display index `index` in the file's own row/column order.

    The network is trained on file-ordered slices, so it sees them the same way on screen
    (one slice) and in "Denoise volume" (all of them).
    """
    return np.ascontiguousarray(np.take(data, geom.file_index(index), axis=geom.file_axis))


def display_from_file_slice(file_slice: np.ndarray, geom: SliceGeometry, index: int) -> np.ndarray:
    """Turn a file-ordered 2D slice into its on-screen orientation, without copying the volume.

    The slice is broadcast (zero-copy) along the slicing axis so `SliceGeometry.extract`
    applies exactly the flips and transposes it applies to the real volume.
    """
    shape = geom.shape
    stacked = np.broadcast_to(np.expand_dims(file_slice, geom.file_axis), shape)
    return np.ascontiguousarray(geom.extract(stacked, index))


__all__ = [
    "AXIS_NAMES",
    "MODE_CLEAN",
    "MODE_NOISY",
    "NoiseSettings",
    "SliceCache",
    "ViewerData",
    "display_from_file_slice",
    "display_levels",
    "prepare_viewer_data",
    "file_order_slice",
    "volume_histogram",
]
