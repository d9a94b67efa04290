"""A corpus of hostile NIfTI inputs, small enough to build in a fraction of a second.

Plain module (no pytest) so every entry point can reuse it: the CLI tests here, the window's
tests in tests/qt. ``build_corpus(folder)`` writes the files and returns the cases by name;
each case says what every loader must do with it:

- ``refuse``: one line naming the file, containing ``reason`` (case-insensitive);
- ``ok``: load and process normally (``reason``, when given, is a warning the load reports).

``size_bomb`` cases claim far more voxels than the file holds: a loader must refuse them
before allocating (run them under a memory limit).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

BOMB_SHAPE = (1024, 1024, 512)  # 2 GiB of float32: what an 81-byte file can claim
SHORT = "shorter than the header"  # the refusal of a header promising more data than the file has


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    expect: str  # "refuse" or "ok"
    reason: str = ""  # expected words in the refusal, or in the load's warning for "ok"
    size_bomb: bool = False


def _phantom(shape=(16, 18, 10), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    r = np.sqrt(x**2 + y**2 + z**2)
    data = np.where(r < 0.8, 600.0, 0.0) + np.where(r < 0.4, 300.0, 0.0)
    return (data + 10.0 * rng.standard_normal(shape) * (r < 0.8)).astype(np.float32)


def _save(path: Path, data, affine=None, dtype=None) -> Path:
    data = np.asarray(data)
    if dtype is not None:
        data = data.astype(dtype)
    img = nib.Nifti1Image(data, np.eye(4) if affine is None else affine)
    img.set_sform(img.affine, code=1)
    nib.save(img, str(path))
    return path


def _raw_nifti(dims, dtype=np.float32, data: bytes = b"", sform=None) -> bytes:
    """A NIfTI-1 single file whose header claims ``dims`` (unchecked: may be 0 or negative)."""
    header = nib.Nifti1Header()
    header.set_data_dtype(dtype)
    dim = np.ones(8, dtype=np.int16)
    dim[0] = len(dims)
    dim[1:1 + len(dims)] = dims
    header["dim"] = dim
    header["pixdim"] = [1.0] * 8
    header["vox_offset"] = 352
    header.set_sform(np.eye(4) if sform is None else sform, code=1)
    return header.binaryblock + b"\0" * 4 + data


def _write(path: Path, payload: bytes) -> Path:
    path.write_bytes(payload)
    return path


def build_corpus(folder: str | os.PathLike) -> dict[str, Case]:
    """Write every hostile input into ``folder`` (created) and return the cases by name."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    good = _phantom()
    good_gz = gzip.compress(_raw_nifti(good.shape, data=good.tobytes()), compresslevel=0, mtime=0)
    cases: list[Case] = []

    def add(name, path, expect, reason="", size_bomb=False):
        cases.append(Case(name, path, expect, reason, size_bomb))

    # --- not a volume at all
    add("empty", _write(d / "empty.nii", b""), "refuse", "empty")
    add("not_nifti", _write(d / "not_nifti.nii", b"this is a text file, not an image\n" * 20), "refuse", "not")
    add("random_gzip", _write(d / "random_gzip.nii.gz", gzip.compress(os.urandom(600), mtime=0)), "refuse", "not")
    add("gzip_named_nii", _write(d / "gzip_named_nii.nii", good_gz), "refuse", "gzip")
    folder_case = d / "folder.nii.gz"
    folder_case.mkdir(exist_ok=True)
    add("folder", folder_case, "refuse", "folder")
    add("missing", d / "missing.nii.gz", "refuse", "no such file")
    loop = d / "symlink_loop.nii.gz"
    if not loop.is_symlink():
        os.symlink(loop.name, loop)
    add("symlink_loop", loop, "refuse", "symlink")
    if hasattr(os, "mkfifo"):  # opening a FIFO for reading would wait forever for a writer
        fifo = d / "fifo.nii"
        if not fifo.exists():
            os.mkfifo(fifo)
        add("fifo", fifo, "refuse", "not a regular file")
    # --- data shorter than the header says, or corrupt
    full = _raw_nifti(good.shape, data=good.tobytes())
    add("truncated_nii", _write(d / "truncated.nii", full[: len(full) // 2]), "refuse", SHORT)
    add("truncated_gz", _write(d / "truncated.nii.gz", gzip.compress(full, mtime=0)[:-700]), "refuse", "truncated")
    add("header_lies", _write(d / "header_lies.nii", _raw_nifti((64, 64, 64), data=b"\0" * 40)), "refuse", SHORT)
    noise = np.random.default_rng(2).random(6000).astype(np.float32).tobytes()  # incompressible
    lies_gz = gzip.compress(_raw_nifti((64, 64, 64), data=noise), mtime=0)  # passes the 1032:1 bound
    add("header_lies_gz", _write(d / "header_lies_gz.nii.gz", lies_gz), "refuse", SHORT)
    crc = bytearray(good_gz)
    crc[len(crc) // 2] ^= 0x7F  # inside the stored (level 0) deflate block: decodes, CRC fails
    add("crc_error", _write(d / "crc_error.nii.gz", bytes(crc)), "refuse", "corrupt")
    # --- size bombs: tiny files claiming gigabytes
    add("bomb_nii", _write(d / "bomb.nii", _raw_nifti(BOMB_SHAPE)), "refuse", SHORT, size_bomb=True)
    add("bomb_gz", _write(d / "bomb.nii.gz", gzip.compress(_raw_nifti(BOMB_SHAPE), mtime=0)),
        "refuse", SHORT, size_bomb=True)
    add("huge_dims", _write(d / "huge_dims.nii", _raw_nifti((32767, 32767, 32767), np.int16)),
        "refuse", SHORT, size_bomb=True)
    # --- dimensions that make no sense
    add("zero_dim", _write(d / "zero_dim.nii", _raw_nifti((16, 0, 10))), "refuse", "dimension")
    add("negative_dim", _write(d / "negative_dim.nii", _raw_nifti((16, -4, 10))), "refuse", "dimension")
    add("one_d", _write(d / "one_d.nii", _raw_nifti((50,), data=b"\0" * 200)), "refuse", "1D")
    add("five_d", _save(d / "five_d.nii.gz", np.zeros((4, 4, 4, 2, 2), np.float32)), "refuse", "5D")
    # --- voxel types we cannot process faithfully
    rgb = np.zeros(good.shape, dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    add("rgb24", _save(d / "rgb24.nii.gz", rgb), "refuse", "RGB")
    add("complex", _save(d / "complex.nii.gz", good.astype(np.complex64) * (1 + 1j)), "ok", "magnitude")
    # --- unusual but valid: processed, with a warning where something was repaired
    nan = good.copy()
    nan[2:4, 2:4, 2:4] = np.nan
    nan[5, 5, 5] = np.inf
    add("nan_voxels", _save(d / "nan_voxels.nii.gz", nan), "ok", "NaN/Inf")
    add("all_nan", _save(d / "all_nan.nii.gz", np.full(good.shape, np.nan, np.float32)), "ok", "NaN/Inf")
    add("constant", _save(d / "constant.nii.gz", np.full(good.shape, 7.0, np.float32)), "ok", "constant")
    bright = good.copy()
    bright[8, 9, 5] = 1e6
    add("bright_voxel", _save(d / "bright_voxel.nii.gz", bright), "ok")
    add("negative_int16", _save(d / "negative_int16.nii.gz", good - 300, dtype=np.int16), "ok")
    zero_affine = _raw_nifti(good.shape, data=good.tobytes(), sform=np.zeros((4, 4)))
    add("zero_affine", _write(d / "zero_affine.nii", zero_affine), "ok", "affine")
    add("two_d", _save(d / "two_d.nii.gz", good[:, :, 4]), "ok")
    add("four_d", _save(d / "four_d.nii.gz", np.stack([good, good * 0.5], axis=-1)), "ok")
    add("uncompressed", _write(d / "uncompressed.nii", full), "ok")
    # two gzip members (as bgzip writes): the trailer holds only the last one's length
    members = gzip.compress(full[:5000], mtime=0) + gzip.compress(full[5000:], mtime=0)
    add("multi_member_gz", _write(d / "multi_member.nii.gz", members), "ok")
    return {c.name: c for c in cases}


def good_volume(folder: str | os.PathLike, name: str = "good.nii.gz") -> Path:
    """A small valid volume (for pairing with a hostile one, e.g. in `metrics`)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    return _save(Path(folder) / name, _phantom(seed=1))
