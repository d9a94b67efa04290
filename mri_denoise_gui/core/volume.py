"""NIfTI volumes in and out, with every failure turned into a one-line `VolumeError`.

Processing happens in the file's own voxel grid; only display reorients (see orientation.py).
Header checks before reading live in volume_checks.py, the rules for outputs in outputs.py.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from mri_denoise_gui.core.errors import VolumeError, first_line
from mri_denoise_gui.core.outputs import NIFTI_SUFFIXES, SOFTWARE, check_output, sidecar_path, write_pair
from mri_denoise_gui.core.volume_checks import (
    check_bytes_present,
    check_dimensions,
    check_memory,
    check_voxel_type,
    usable_affine,
)

__all__ = ["LoadCancelled", "Volume", "VolumeError", "count_volumes", "has_nifti_suffix", "load_volume",
           "save_volume", "sidecar_path"]

# Warnings a load repairs (NaN voxels, complex data, a bad affine) are also logged here, so
# every command line entry point can show them; the window shows Volume.warnings itself.
log = logging.getLogger(__name__)


class LoadCancelled(Exception):
    """The caller's cancel event stopped a load; nothing was kept."""


READ_CHUNK = 8 * 2**20  # bytes per read between progress reports and cancel checks


class _ChunkedReader(io.RawIOBase):
    """A file object for nibabel that reads in chunks, reporting progress and honouring cancel.

    nibabel reads the voxel data in one ``readinto`` / ``read`` call (a minute for a large
    .nii.gz); splitting that call is the only place a load can be stopped part way.
    """

    def __init__(self, fileobj, total: int, progress=None, cancel=None):
        super().__init__()
        self._f, self._total, self._progress, self._cancel = fileobj, max(1, int(total)), progress, cancel
        self._done = 0

    def _step(self, n: int) -> None:
        self._done += n
        if self._progress is not None:
            self._progress(min(self._done, self._total), self._total)

    def _check(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise LoadCancelled("loading cancelled")

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            self._check()
            n = self._f.readinto(view[filled:filled + READ_CHUNK])
            if not n:
                break
            filled += n
            self._step(n)
        return filled

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._total
        buffer = bytearray(size)
        return bytes(buffer[: self.readinto(buffer)])

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._f.seek(pos, whence)

    def tell(self) -> int:
        return self._f.tell()


@dataclass
class Volume:
    data: np.ndarray
    affine: np.ndarray
    header: Any
    path: Path | None = None
    dtype: str = "float32"
    voxel_sizes: tuple[float, float, float] = (1.0, 1.0, 1.0)
    orientation: tuple[str, str, str] = ("R", "A", "S")
    n_volumes: int = 1
    volume_index: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape)  # type: ignore[return-value]


def has_nifti_suffix(path: str | os.PathLike) -> bool:
    name = str(path).lower()
    return name.endswith(NIFTI_SUFFIXES)


def _is_gz(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _check_readable(path: Path) -> None:
    try:
        if not path.exists():
            if os.path.lexists(path):
                raise VolumeError(f"{path}: is a broken symbolic link or a symlink loop")
            raise VolumeError(f"{path}: no such file")
        if path.is_dir():
            raise VolumeError(f"{path}: is a folder, not a NIfTI file")
        if not path.is_file():
            raise VolumeError(f"{path}: is not a regular file")
        if path.stat().st_size == 0:
            raise VolumeError(f"{path}: the file is empty (0 bytes)")
        with open(path, "rb") as fh:
            magic = fh.read(2)
    except OSError as exc:
        raise VolumeError(f"{path}: cannot read ({exc.strerror or first_line(exc, 200)})") from None
    if magic == b"\x1f\x8b" and not _is_gz(path):
        # nibabel picks the decoder by extension; a gzip named .nii would be misread.
        raise VolumeError(f"{path}: is gzip-compressed but not named .nii.gz")


def _open_image(path: Path):
    """The image with its header checked: sane dimensions, a number type, all the bytes present."""
    _check_readable(path)
    try:
        img = nib.load(str(path))
    except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise VolumeError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    except nib.filebasedimages.ImageFileError:
        raise VolumeError(f"{path}: not a NIfTI file (.nii or .nii.gz)") from None
    except Exception as exc:  # nibabel raises many types for garbage headers
        raise VolumeError(f"{path}: not a readable NIfTI file ({first_line(exc, 200)})") from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise VolumeError(f"{path}: is a {type(img).__name__}, not a NIfTI file")
    shape = check_dimensions(path, img.header)
    check_voxel_type(path, img.get_data_dtype())
    try:
        check_bytes_present(path, img.header, shape)
    except OSError as exc:
        raise VolumeError(f"{path}: cannot read ({exc.strerror or first_line(exc, 200)})") from None
    return img, shape


def _effective_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Drop trailing singleton dimensions past the fourth (some writers pad to 5D)."""
    shape = tuple(int(s) for s in shape)
    while len(shape) > 4 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def _checked_shape(path: Path, header_shape: tuple[int, ...]) -> tuple[int, ...]:
    shape = _effective_shape(header_shape)
    if len(shape) > 4:
        raise VolumeError(f"{path}: {len(shape)}D data is not supported (only 2D, 3D and 4D)")
    if len(shape) < 2:
        raise VolumeError(f"{path}: {len(shape)}D data is not an image")
    return shape


def count_volumes(path: str | os.PathLike) -> int:
    """How many 3D volumes the file holds (1 for 2D and 3D files)."""
    path = Path(path)
    _, header_shape = _open_image(path)
    shape = _checked_shape(path, header_shape)
    return shape[3] if len(shape) == 4 else 1


def load_volume(path: str | os.PathLike, volume_index: int = 0, progress=None, cancel=None) -> Volume:
    """Read one 3D volume as float32. ``progress(done, total)`` (bytes of voxel data) is called
    from the reading thread; setting ``cancel`` (a threading.Event) raises `LoadCancelled`.

    A .nii.gz is read to the end of its stream, so a CRC or length error is a `VolumeError`
    rather than garbage voxels."""
    path = Path(path)
    img, header_shape = _open_image(path)
    shape = _checked_shape(path, header_shape)
    n_volumes = shape[3] if len(shape) == 4 else 1
    if not 0 <= volume_index < n_volumes:
        raise VolumeError(
            f"{path}: volume index {volume_index} is out of range: the file has "
            f"{n_volumes} volume{'s' if n_volumes != 1 else ''} (0 to {n_volumes - 1})"
        )
    itemsize = img.get_data_dtype().itemsize
    check_memory(path, shape[:3], itemsize)
    try:
        if not _is_gz(path) and progress is None and cancel is None:
            vol = _read_volume(path, img, shape, volume_index)
        else:
            vol = _read_through(path, img, shape, volume_index, progress, cancel)
    except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise VolumeError(f"{path}: corrupt or truncated gzip data ({first_line(exc, 200)})") from None
    except MemoryError:
        raise VolumeError(f"{path}: not enough memory to read {' x '.join(map(str, shape))} voxels") from None
    for warning in vol.warnings:
        log.warning("%s: %s", path, warning)
    return vol


def _read_through(path: Path, img, shape, volume_index: int, progress, cancel) -> Volume:
    """The same image again, its voxel data read through _ChunkedReader; a gzip stream to its end."""
    opener = gzip.open if _is_gz(path) else open
    with opener(path, "rb") as raw_file:
        per_volume = int(np.prod(shape[:3])) * img.get_data_dtype().itemsize
        reader = _ChunkedReader(raw_file, per_volume, progress, cancel)
        chunked = type(img).from_file_map({"image": nib.FileHolder(fileobj=reader)})
        vol = _read_volume(path, chunked, shape, volume_index)
        if _is_gz(path):
            while reader.read(READ_CHUNK):  # the gzip module checks CRC and length at the end
                pass
    return vol


def _read_volume(path: Path, img, shape: tuple[int, ...], volume_index: int) -> Volume:
    """Voxel data of one volume of a checked image, as float32, with its geometry."""
    ndim = len(shape)
    n_volumes = shape[3] if ndim == 4 else 1
    try:
        proxy = img.dataobj
        if ndim == 4:
            raw = np.asanyarray(proxy[..., volume_index]) if len(img.shape) == 4 else np.asanyarray(proxy).reshape(shape)[..., volume_index]
        else:
            raw = np.asanyarray(proxy).reshape(shape)
    except (gzip.BadGzipFile, zlib.error, EOFError):
        raise
    except (ValueError, OSError) as exc:
        raise VolumeError(
            f"{path}: the data are shorter than the header's dimensions {tuple(shape)} say "
            f"(truncated file or wrong header: {first_line(exc, 200)})"
        ) from None
    warnings: list[str] = []
    if np.iscomplexobj(raw):
        raw = np.abs(raw)
        warnings.append("complex data: using the magnitude")
    data = np.asarray(raw, dtype=np.float32)
    if data.ndim == 2:
        data = data[:, :, np.newaxis]
    finite = np.isfinite(data)
    if not finite.all():
        bad = int(data.size - np.count_nonzero(finite))
        data = np.where(finite, data, np.float32(0)).astype(np.float32)
        warnings.append(f"{bad} NaN/Inf voxel{'s' if bad != 1 else ''} replaced by 0")
    del finite
    if data.size and float(data.max()) == float(data.min()):
        warnings.append("the volume is constant: there is no contrast to denoise")
    header = img.header.copy()
    zooms = tuple(float(z) for z in header.get_zooms()[:3])
    zooms = tuple(list(zooms) + [1.0] * (3 - len(zooms)))
    affine, affine_warning = usable_affine(img.affine, zooms)
    if affine_warning:
        warnings.append(affine_warning)
    return Volume(
        data=np.ascontiguousarray(data),
        affine=affine,
        header=header,
        path=path.resolve(),
        dtype=str(img.get_data_dtype()),
        voxel_sizes=zooms,  # type: ignore[arg-type]
        orientation=tuple(str(c) for c in nib.aff2axcodes(affine)),  # type: ignore[arg-type]
        n_volumes=n_volumes,
        volume_index=volume_index,
        warnings=warnings,
    )


def save_volume(
    path: str | os.PathLike,
    data: np.ndarray,
    like: Volume,
    sidecar: dict | None = None,
    inputs: tuple = (),
) -> Path:
    """Write `data` as float32 NIfTI with `like`'s geometry and header fields, plus its sidecar.

    The output must not be (or share a name stem with) `like.path` or any of `inputs`, nor
    replace a file this program did not write (see outputs.check_output); volume and sidecar
    are written both or neither. The sidecar always carries the "software" stamp.
    """
    path = check_output(path, (like.path, *inputs))
    data = np.asarray(data, dtype=np.float32)
    if data.shape != like.data.shape:
        raise VolumeError(f"data shape {data.shape} does not match the volume's {like.data.shape}")
    if not np.isfinite(data).all():
        raise VolumeError("refusing to save: the data contain NaN or Inf")
    from mri_denoise_gui import __version__

    stamped = {"software": f"{SOFTWARE} {__version__}", **(sidecar or {})}
    text = json.dumps(stamped, indent=2, sort_keys=True, default=_json_default) + "\n"  # fails before any write

    src = like.header
    klass = nib.Nifti2Image if isinstance(src, nib.Nifti2Header) else nib.Nifti1Image
    header = src.copy()
    header.set_data_dtype(np.float32)
    img = klass(data, like.affine, header=header)
    img.header.set_slope_inter(1.0, 0.0)
    img.set_sform(src.get_sform(), code=int(src["sform_code"]))
    img.set_qform(src.get_qform(), code=int(src["qform_code"]))
    img.header.set_xyzt_units(*src.get_xyzt_units())
    img.header["descrip"] = src["descrip"]
    try:
        write_pair(path, lambda tmp: nib.save(img, str(tmp)), text)
    except OSError as exc:
        raise VolumeError(f"{path}: could not write ({exc.strerror or first_line(exc, 200)})") from None
    return path


def _json_default(obj: Any):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
