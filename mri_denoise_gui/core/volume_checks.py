"""Checks on a NIfTI header before any voxel is read: memory must follow the file, not the header.

An 81-byte file can claim 1024 x 1024 x 512 voxels; reading it would allocate gigabytes before
the short read is noticed. So the header's dimensions are checked against the bytes actually
present (for .nii.gz a cheap bound first, the stream's length only when in doubt) and against
the memory available, and voxel types we cannot turn into one grey value are refused.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from mri_denoise_gui.core.errors import VolumeError

# deflate cannot expand data by more than ~1032:1 (258-byte matches coded in 2 bits)
MAX_DEFLATE_RATIO = 1032
COUNT_CHUNK = 4 * 2**20
# bytes per voxel while reading one volume: the file's own type, its float32 copy, the
# finite mask and the NaN-repaired copy
WORK_BYTES_PER_VOXEL = 4 + 1 + 4


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} PB"  # pragma: no cover


def check_dimensions(path: Path, header) -> tuple[int, ...]:
    """The header's dimensions, refusing zero, negative and out-of-range values."""
    dim = [int(v) for v in np.asarray(header["dim"]).ravel()]
    ndim = dim[0]
    if not 1 <= ndim <= 7:
        raise VolumeError(f"{path}: the header's dimension count is {ndim} (must be 1 to 7)")
    shape = tuple(dim[1:1 + ndim])
    for axis, size in enumerate(shape):
        if size < 1:
            raise VolumeError(f"{path}: header dimension {axis} is {size}: every dimension must be at least 1")
    return shape


def check_voxel_type(path: Path, dtype: np.dtype) -> None:
    """Only numbers can be normalised; RGB (a record of three bytes) has no single grey value."""
    dtype = np.dtype(dtype)
    if dtype.fields is not None:
        raise VolumeError(f"{path}: RGB colour data ({dtype.itemsize * 8}-bit) is not supported; "
                          "convert it to a grey-scale volume first")
    if dtype.kind not in "biufc":
        raise VolumeError(f"{path}: voxel type {dtype} is not a number type")


def needed_bytes(header, shape: tuple[int, ...]) -> int:
    """Bytes a single-file NIfTI must hold for its header's dimensions (header + voxel data)."""
    offset = int(header.get_data_offset()) if hasattr(header, "get_data_offset") else 352
    return max(offset, 0) + math.prod(shape) * np.dtype(header.get_data_dtype()).itemsize


def _gzip_stream_length(path: Path, enough: int) -> int:
    """Decompressed length of a gzip file, counted in chunks (stops once ``enough`` is reached)."""
    count = 0
    with gzip.open(path, "rb") as fh:
        while count < enough:
            chunk = fh.read(COUNT_CHUNK)
            if not chunk:
                break
            count += len(chunk)
    return count


def _gzip_isize(path: Path) -> int | None:
    """The gzip trailer's length field (the last member's length modulo 2**32)."""
    with open(path, "rb") as fh:
        fh.seek(-4, os.SEEK_END)
        tail = fh.read(4)
    return int.from_bytes(tail, "little") if len(tail) == 4 else None


def _short_data(path: Path, shape, need: int, have: str) -> VolumeError:
    return VolumeError(f"{path}: the data are shorter than the header's dimensions {shape} say: they need "
                       f"{format_bytes(need)}, {have} (truncated file or wrong header)")


def check_bytes_present(path: Path, header, shape: tuple[int, ...]) -> None:
    """Refuse a header that promises more voxel data than the file holds, without reading it."""
    need = needed_bytes(header, shape)
    size = path.stat().st_size
    if not path.name.lower().endswith(".gz"):
        if size < need:
            raise _short_data(path, shape, need, f"the file has {format_bytes(size)}")
        return
    if size * MAX_DEFLATE_RATIO < need:
        raise _short_data(path, shape, need, f"more than {format_bytes(size)} of gzip data can hold")
    isize = _gzip_isize(path)
    if isize is not None and (isize >= need or size * MAX_DEFLATE_RATIO >= 2**32):
        return  # the trailer agrees (or wraps at 4 GiB and cannot tell): reading will check the rest
    try:
        have = _gzip_stream_length(path, need)
    except (gzip.BadGzipFile, zlib.error, EOFError, OSError) as exc:
        raise VolumeError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    if have < need:
        raise _short_data(path, shape, need, f"the gzip stream holds {format_bytes(have)}")


def available_memory() -> int | None:
    """Bytes this process may still allocate: the system's available memory, capped by RLIMIT_AS."""
    available = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except OSError:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            available = None
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm") as fh:
                used = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            room = max(soft - used, 0)
            available = room if available is None else min(available, room)
    except (ImportError, OSError, ValueError):
        pass
    return available


def check_memory(path: Path, shape3d: tuple[int, ...], itemsize: int) -> None:
    """Refuse a volume whose reading would need more memory than there is."""
    need = math.prod(shape3d) * (itemsize + WORK_BYTES_PER_VOXEL)
    room = available_memory()
    if room is not None and need > room:
        raise VolumeError(f"{path}: reading {' x '.join(str(s) for s in shape3d)} voxels needs about "
                          f"{format_bytes(need)} of memory, {format_bytes(room)} is available")


def usable_affine(affine: np.ndarray, zooms: tuple[float, ...]) -> tuple[np.ndarray, str | None]:
    """The affine, or voxel sizes on a diagonal (with a warning) when it is zero, NaN or singular."""
    affine = np.asarray(affine, dtype=np.float64)
    if np.isfinite(affine).all() and abs(float(np.linalg.det(affine[:3, :3]))) > 1e-12:
        return affine, None
    sizes = [z if math.isfinite(z) and z > 0 else 1.0 for z in zooms]
    repaired = np.diag(sizes + [1.0])
    return repaired, "the affine is unusable (zero, NaN or singular): orientation unknown, shown as RAS"
