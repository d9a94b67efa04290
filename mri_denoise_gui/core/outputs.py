"""Where an output may go, and writing a volume with its sidecar: both or neither.

The rules every writer follows (add-noise, denoise, the window's export): an output never is,
nor shares a name stem (and so a JSON sidecar) with, one of its inputs; it never replaces a
file or sidecar that this program did not write (our sidecars carry ``"software":
"mri-denoise-gui ..."``); and a failure at any step leaves no output at all.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

from mri_denoise_gui.core.errors import VolumeError

SOFTWARE = "mri-denoise-gui"
NIFTI_SUFFIXES = (".nii.gz", ".nii")
_UMASK_LOCK = threading.Lock()


def nifti_stem(path: str | os.PathLike) -> str:
    """`scan.nii.gz` -> `scan` (and `scan.nii` -> `scan`): the part a sidecar is named after."""
    name = Path(path).name
    for suffix in NIFTI_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def sidecar_path(path: str | os.PathLike) -> Path:
    """`scan_denoised.nii.gz` -> `scan_denoised.json` (the BIDS convention)."""
    return Path(path).with_name(nifti_stem(path) + ".json")


def _resolved(path: Path) -> Path:
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError):  # symlink loops
        return path.expanduser().absolute()


def same_file(a: str | os.PathLike, b: str | os.PathLike | None) -> bool:
    """True when `a` and `b` are one file: the same path, a symlink or a hard link to it."""
    if b is None:
        return False
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return _resolved(a) == _resolved(b)


def written_by_us(sidecar: Path) -> bool:
    """Whether a JSON sidecar carries this program's provenance stamp."""
    try:
        content = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(content, dict) and str(content.get("software", "")).startswith(SOFTWARE)


def check_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Refuse (VolumeError) an output that would overwrite or shadow an input or a foreign file."""
    path = Path(path)
    if not path.name.lower().endswith(NIFTI_SUFFIXES):
        raise VolumeError(f"{path}: output must end in .nii or .nii.gz")
    side = sidecar_path(path)
    for source in inputs:
        if source is None:
            continue
        source = Path(source)
        if same_file(path, source):
            raise VolumeError(f"{path}: refusing to overwrite the input volume; choose another name")
        if same_file(path.parent, source.parent) and nifti_stem(path).lower() == nifti_stem(source).lower():
            raise VolumeError(f"{path}: has the same name as the input {source.name}, so its sidecar "
                              f"{side.name} would replace the input's; choose another name")
    parent = path.parent
    if not parent.is_dir():
        raise VolumeError(f"{parent}: output folder does not exist")
    for target, what in ((path, "the output"), (side, "its sidecar")):
        if os.path.lexists(target) and not target.exists():
            raise VolumeError(f"{target}: {what} is a broken symbolic link; remove it or choose another name")
        if target.is_dir():
            raise VolumeError(f"{target}: {what} is a folder; choose another name")
    if side.exists() and not written_by_us(side):
        raise VolumeError(f"{side}: exists and was not written by {SOFTWARE}; it would be replaced, "
                          "so choose another output name")
    if path.exists() and not side.exists():
        raise VolumeError(f"{path}: exists and was not written by {SOFTWARE} (it has no sidecar of ours); "
                          "remove it or choose another name")
    return path


def _file_mode() -> int:
    """0o666 minus the umask: what open() would give, unlike mkstemp's 0o600."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def _temp_affixes(path: Path) -> tuple[str, str]:
    """(prefix, suffix) of the temporaries of ``path``: `.NAME.<mkstemp letters>.part<suffix>`."""
    suffix = ".nii.gz" if path.name.lower().endswith(".nii.gz") else path.suffix
    return f".{path.name}.", ".part" + suffix


def _temp_next_to(path: Path) -> Path:
    prefix, suffix = _temp_affixes(path)
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(name)


def _our_temp_pattern(path: Path) -> re.Pattern:
    """Names only ``_temp_next_to(path)`` makes."""
    prefix, suffix = _temp_affixes(path)
    return re.compile(re.escape(prefix) + r"[A-Za-z0-9_]{8}" + re.escape(suffix))


def sweep_stale_temps(path: Path, before: float) -> list[Path]:
    """Remove temporaries of ``path`` that a killed writer left (a Dask worker killed mid-write
    cannot clean up), once a later write of the same output has landed.

    Only our own temp names, and only those last touched before ``before`` (the landed write's
    start), so a writer that is still busy keeps its file.
    """
    patterns = [_our_temp_pattern(path), _our_temp_pattern(sidecar_path(path))]  # one folder for both
    try:
        candidates = [p for p in path.parent.iterdir() if any(r.fullmatch(p.name) for r in patterns)]
    except OSError:
        return []
    removed = []
    for tmp in candidates:
        try:
            if tmp.is_file() and not tmp.is_symlink() and tmp.stat().st_mtime < before:
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            pass
    return removed


def write_file_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """``data`` (text as UTF-8, or bytes) into ``path`` through a temporary file beside it: the old
    file or the new one, never half of one (a full disk leaves the old file and no temporary)."""
    path = Path(path)
    tmp = _temp_next_to(path)
    try:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_pair(path: Path, write_volume: Callable[[Path], None], sidecar_text: str) -> Path:
    """Write the volume and its sidecar to temporary files, then rename both into place.

    Any failure (a full disk while either is written, a failed rename) removes what this call
    created, so the folder holds both new files or neither.
    """
    side = sidecar_path(path)
    temps: list[Path] = []
    mode = _file_mode()
    started = time.time()
    try:
        temps.append(_temp_next_to(path))
        write_volume(temps[0])
        temps.append(_temp_next_to(side))
        temps[1].write_text(sidecar_text, encoding="utf-8")
        for tmp in temps:
            os.chmod(tmp, mode)
        os.replace(temps[0], path)
        try:
            os.replace(temps[1], side)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    except BaseException:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        raise
    sweep_stale_temps(path, started)
    return path
