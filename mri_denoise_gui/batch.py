"""Batch denoising: which files, where their outputs go, what counts as done, and one file's job.

The same ``run_job`` runs in the command's own process and on Dask workers (batch_dask.py),
so the two give the same outputs. A job never raises for a bad file: it returns a
``JobResult`` with a one-line reason, so one broken scan does not stop a study.

An output is *complete* when the volume and its JSON sidecar both exist and the sidecar, which
is written (atomically) only after the volume, says ``"status": "complete"`` for the same
source file. ``--skip-existing`` skips exactly those, so an interrupted run resumes.
"""

from __future__ import annotations

import glob
import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from mri_denoise_gui.core.errors import first_line
from mri_denoise_gui.core.outputs import nifti_stem
from mri_denoise_gui.core.volume import has_nifti_suffix, sidecar_path
from mri_denoise_gui.ml.errors import ModelError

GLOB_CHARS = set("*?[")
COMPLETE = "complete"


class InputError(ValueError):
    """An input specification that names nothing (empty folder, glob without matches, bad list)."""


def _expand_one(spec: str) -> list[Path]:
    if spec.startswith("@"):
        listing = Path(spec[1:])
        try:
            lines = listing.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise InputError(f"{listing}: cannot read the list of inputs ({exc.strerror or exc})") from None
        base = listing.parent
        paths = [Path(s) for s in (ln.strip() for ln in lines) if s and not s.startswith("#")]
        return [p if p.is_absolute() else base / p for p in paths]
    path = Path(spec)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and has_nifti_suffix(p))
        if not found:
            raise InputError(f"{path}: folder holds no .nii or .nii.gz files")
        return found
    if GLOB_CHARS & set(spec) and not path.exists():
        found = sorted(Path(p) for p in glob.glob(spec, recursive=True) if has_nifti_suffix(p))
        if not found:
            raise InputError(f"{spec}: matches no .nii or .nii.gz files")
        return found
    return [path]  # a plain path; a missing one fails as that file's job, the others go on


def expand_inputs(specs) -> list[Path]:
    """Files named by folders, globs, ``@list.txt`` files (one path a line, relative to the list)
    and plain paths, in order, each once."""
    seen, out = set(), []
    for spec in specs:
        for path in _expand_one(str(spec)):
            key = os.path.abspath(path)
            if key not in seen:
                seen.add(key)
                out.append(path)
    return out


def output_for(src: Path, out_dir: Path) -> Path:
    stem = nifti_stem(src) if has_nifti_suffix(src) else Path(src).stem  # a non-NIfTI input fails as its job
    return Path(out_dir) / f"{stem}_denoised.nii.gz"


def is_complete(src: Path, dst: Path) -> bool:
    """True when ``dst`` holds a finished denoising of ``src`` (see the module docstring)."""
    side = sidecar_path(dst)
    if not (Path(dst).is_file() and side.is_file()):
        return False
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(meta, dict) and meta.get("status") == COMPLETE
            and meta.get("source") == str(Path(src).resolve()))


@dataclass(frozen=True)
class DenoiseJob:
    """One file to denoise; plain data, so it pickles to a Dask worker."""

    src: str
    dst: str
    model_dir: str
    axis: int = 2
    batch_size: int = 8
    volume_index: int = 0
    precision: str = "auto"  # see ml/precision.py
    strength: float = 1.0  # see ml/strength.py


@dataclass
class JobResult:
    src: str
    dst: str
    status: str  # "done", "skipped" or "failed"
    seconds: float = 0.0
    message: str = ""
    worker: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------ the per-process model cache

_models: dict = {}
_models_lock = threading.Lock()


def get_denoiser(model_dir: str | Path, precision: str = "auto", strength: float = 1.0):
    """The Denoiser for ``model_dir`` at ``strength``, loaded once per process (each Dask worker
    keeps its own)."""
    from mri_denoise_gui.ml.inference import Denoiser

    key = (str(Path(model_dir).resolve()), precision, float(strength))
    with _models_lock:
        if key not in _models:
            _models[key] = Denoiser.load(key[0], precision=precision, strength=strength)
        return _models[key]


def configure_tf_threads(n: int) -> int:
    """Size TensorFlow's thread pools to ``n`` cores; only possible before TensorFlow starts,
    so later calls keep what is there. Returns the intra-op thread count in force."""
    from mri_denoise_gui.ml.native_log import quiet_native_stderr

    # a Dask worker starts TensorFlow here first: without this, one cuInit line per worker
    with quiet_native_stderr():
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(max(1, int(n)))
            tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, int(n))))
        except RuntimeError:
            pass  # TensorFlow already initialised in this process
        return tf.config.threading.get_intra_op_parallelism_threads()


# ------------------------------------------------------------ one file

def denoise_file(job: DenoiseJob, denoiser, progress=None) -> float:
    """Denoise ``job.src`` into ``job.dst`` with its sidecar; raises on a bad file. Returns seconds."""
    from mri_denoise_gui.core.volume import load_volume, save_volume

    src = Path(job.src)
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such file")
    vol = load_volume(src, volume_index=job.volume_index)
    started = time.perf_counter()
    out = denoiser.denoise_volume(vol, axis=job.axis, batch_size=job.batch_size, progress=progress)
    seconds = time.perf_counter() - started
    save_volume(job.dst, out, like=vol, sidecar=denoise_sidecar(vol, denoiser, job.axis, job.volume_index, seconds))
    return seconds


def denoise_sidecar(vol, denoiser, axis: int, volume_index: int, seconds: float, **extra) -> dict:
    """The provenance beside a denoised volume (`core.volume.save_volume` adds the software stamp);
    "status" is written last of all by that save, which is what `is_complete` trusts."""
    return {"source": str(Path(vol.path).resolve()), "volume_index": volume_index, "operation": "denoise",
            "axis": axis, "normalizer": denoiser.normalizer().fit(vol.data).to_dict(),
            "model": denoiser.provenance(), "seconds": round(seconds, 3), **extra, "status": COMPLETE}


def run_job(job: DenoiseJob, skip_existing: bool = False, worker: str = "") -> JobResult:
    """Denoise one file with this process's cached model; failures become a result, not an exception."""
    if skip_existing and is_complete(Path(job.src), Path(job.dst)):
        return JobResult(job.src, job.dst, "skipped", worker=worker)
    try:
        seconds = denoise_file(job, get_denoiser(job.model_dir, job.precision, job.strength))
    except (ValueError, OSError, ModelError) as exc:  # VolumeError, FileNotFoundError, a bad model...
        return JobResult(job.src, job.dst, "failed", message=first_line(exc), worker=worker)
    except Exception as exc:  # noqa: BLE001 - a TensorFlow error on one file must not end the study
        return JobResult(job.src, job.dst, "failed", message=f"{type(exc).__name__}: {first_line(exc)}",
                         worker=worker)
    return JobResult(job.src, job.dst, "done", seconds=seconds, worker=worker)


def summary_line(results) -> str:
    counts = {s: sum(r.status == s for r in results) for s in ("done", "skipped", "failed")}
    return ", ".join(f"{n} {s}" for s, n in counts.items())
