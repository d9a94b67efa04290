"""NIfTI volumes in and out, with every failure turned into a one-line `VolumeError`.

Processing happens in the file's own voxel grid; only display reorients (see orientation.py).
Writes are atomic and never replace the file a volume was read from.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

NIFTI_SUFFIXES = (".nii", ".nii.gz")


class VolumeError(ValueError):
    """A volume could not be read or written; the message is one line for a person."""


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


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise VolumeError(f"{path}: no such file")
    if path.is_dir():
        raise VolumeError(f"{path}: is a folder, not a NIfTI file")
    if path.stat().st_size == 0:
        raise VolumeError(f"{path}: the file is empty (0 bytes)")
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b" and not str(path).lower().endswith(".gz"):
        # nibabel picks the decoder by extension; a gzip named .nii would be misread.
        raise VolumeError(f"{path}: is gzip-compressed but not named .nii.gz")


def _open_image(path: Path):
    _check_readable(path)
    try:
        img = nib.load(str(path))
    except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise VolumeError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    except nib.filebasedimages.ImageFileError:
        raise VolumeError(f"{path}: not a NIfTI file (.nii or .nii.gz)") from None
    except Exception as exc:  # nibabel raises many types for garbage headers
        raise VolumeError(f"{path}: not a readable NIfTI file ({_short(exc)})") from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise VolumeError(f"{path}: is a {type(img).__name__}, not a NIfTI file")
    return img


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _effective_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Drop trailing singleton dimensions past the fourth (some writers pad to 5D)."""
    shape = tuple(int(s) for s in shape)
    while len(shape) > 4 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def count_volumes(path: str | os.PathLike) -> int:
    """How many 3D volumes the file holds (1 for 2D and 3D files)."""
    img = _open_image(Path(path))
    shape = _effective_shape(img.shape)
    if len(shape) > 4:
        raise VolumeError(f"{path}: {len(shape)}D data is not supported (only 2D, 3D and 4D)")
    return shape[3] if len(shape) == 4 else 1


def load_volume(path: str | os.PathLike, volume_index: int = 0, progress=None, cancel=None) -> Volume:
    """Read one 3D volume as float32. ``progress(done, total)`` (bytes of voxel data) is called
    from the reading thread; setting ``cancel`` (a threading.Event) raises `LoadCancelled`."""
    path = Path(path)
    img = _open_image(path)
    shape = _effective_shape(img.shape)
    ndim = len(shape)
    if ndim > 4:
        raise VolumeError(f"{path}: {ndim}D data is not supported (only 2D, 3D and 4D)")
    if ndim < 2:
        raise VolumeError(f"{path}: {ndim}D data is not an image")
    n_volumes = shape[3] if ndim == 4 else 1
    if not 0 <= volume_index < n_volumes:
        raise VolumeError(
            f"{path}: volume index {volume_index} is out of range: the file has "
            f"{n_volumes} volume{'s' if n_volumes != 1 else ''} (0 to {n_volumes - 1})"
        )
    if progress is None and cancel is None:
        return _read_volume(path, img, shape, volume_index)
    # the same image again, its voxel data read through _ChunkedReader
    opener = gzip.open if str(path).lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as raw_file:
            per_volume = int(np.prod(shape[:3])) * img.get_data_dtype().itemsize
            reader = _ChunkedReader(raw_file, per_volume, progress, cancel)
            chunked = type(img).from_file_map({"image": nib.FileHolder(fileobj=reader)})
            return _read_volume(path, chunked, shape, volume_index)
    except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise VolumeError(f"{path}: corrupt or truncated gzip data ({_short(exc)})") from None


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
    except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise VolumeError(f"{path}: corrupt or truncated gzip data ({_short(exc)})") from None
    except (ValueError, OSError) as exc:
        raise VolumeError(
            f"{path}: the data are shorter than the header's dimensions {tuple(shape)} say "
            f"(truncated file or wrong header: {_short(exc)})"
        ) from None
    data = np.asarray(raw, dtype=np.float32)
    if data.ndim == 2:
        data = data[:, :, np.newaxis]
    warnings: list[str] = []
    finite = np.isfinite(data)
    if not finite.all():
        bad = int(data.size - np.count_nonzero(finite))
        data = np.where(finite, data, np.float32(0)).astype(np.float32)
        warnings.append(f"{bad} NaN/Inf voxel{'s' if bad != 1 else ''} replaced by 0")
    if data.size and float(data.max()) == float(data.min()):
        warnings.append("the volume is constant: there is no contrast to denoise")
    header = img.header.copy()
    zooms = tuple(float(z) for z in header.get_zooms()[:3])
    zooms = tuple(list(zooms) + [1.0] * (3 - len(zooms)))
    affine = np.asarray(img.affine, dtype=np.float64)
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


def _same_file(a: Path, b: Path | None) -> bool:
    if b is None:
        return False
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def sidecar_path(path: str | os.PathLike) -> Path:
    """`scan_denoised.nii.gz` -> `scan_denoised.json`."""
    p = Path(path)
    name = p.name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return p.with_name(name + ".json")


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename over `path`."""
    suffix = ".nii.gz" if path.name.lower().endswith(".nii.gz") else path.suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_volume(
    path: str | os.PathLike,
    data: np.ndarray,
    like: Volume,
    sidecar: dict | None = None,
) -> Path:
    """Write `data` as float32 NIfTI with `like`'s geometry and header fields."""
    path = Path(path)
    if not has_nifti_suffix(path):
        raise VolumeError(f"{path}: output must end in .nii or .nii.gz")
    if _same_file(path, like.path):
        raise VolumeError(f"{path}: refusing to overwrite the input volume; choose another name")
    if not path.parent.exists():
        raise VolumeError(f"{path.parent}: output folder does not exist")
    data = np.asarray(data, dtype=np.float32)
    if data.shape != like.data.shape:
        raise VolumeError(f"data shape {data.shape} does not match the volume's {like.data.shape}")
    if not np.isfinite(data).all():
        raise VolumeError("refusing to save: the data contain NaN or Inf")

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
        _atomic_write(path, lambda tmp: nib.save(img, str(tmp)))
        if sidecar is not None:
            text = json.dumps(sidecar, indent=2, sort_keys=True, default=_json_default)
            _atomic_write(sidecar_path(path), lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
    except OSError as exc:
        raise VolumeError(f"{path}: could not write ({exc.strerror or _short(exc)})") from None
    return path


def _json_default(obj: Any):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
