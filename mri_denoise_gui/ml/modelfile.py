"""A model is a folder: ``model.keras`` + ``model.json``. Written atomically, read defensively.

Kept free of TensorFlow imports at module level so ``read_model_json`` is cheap (the CLI's
``info`` and the GUI's model list read metadata without loading a network).
"""

from __future__ import annotations

import json
import math
import os
import platform
import secrets
import shutil
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from mri_denoise_gui.ml.errors import ModelError
from mri_denoise_gui.ml.output_folder import META_FILE, MODEL_FILE, replace_problem

FORMAT_VERSION = 1
REQUIRED_KEYS = ("format_version", "architecture", "input_channels", "normalizer", "parameters")


def versions() -> dict:
    """Versions of the package, TensorFlow, Keras and Python that wrote a model."""
    import keras
    import tensorflow as tf

    from mri_denoise_gui import __version__

    return {"mri_denoise_gui": __version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "python": platform.python_version()}


def _json_default(obj):
    import numpy as np

    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def publish_folder(staging: Path, folder: Path) -> Path:
    """Move a complete ``staging`` folder to ``folder``, replacing any previous one.

    Both renames are atomic; between them the old folder is kept aside, so at every moment
    ``folder`` is either the previous complete model or the new complete one (or absent if
    there never was one), never a half-written mix. A ``folder`` that is neither empty nor a
    model folder this app wrote is never replaced (ModelError): it may hold someone's scans.
    """
    folder = Path(folder)
    problem = replace_problem(folder)
    if problem:
        raise ModelError(f"{folder} {problem}")
    old = None
    if folder.exists() or folder.is_symlink():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}-{secrets.token_hex(4)}")  # a fresh name:
        os.replace(folder, old)  # the rename never lands on (and so never replaces) anything else
    os.replace(staging, folder)
    if old is not None:
        if old.is_symlink():  # a link to a model elsewhere: drop the link, keep what it pointed to
            old.unlink()
        else:
            shutil.rmtree(old, ignore_errors=True)
    return folder


def _weights_only(model):
    """The same network without optimizer state (3x smaller files; inference never needs it)."""
    if getattr(model, "optimizer", None) is None:
        return model
    export = type(model).from_config(model.get_config())
    export.set_weights(model.get_weights())
    return export


def save_model_folder(model, folder: str | Path, metadata: dict, extra_files: dict | None = None) -> Path:
    """Write ``model.keras`` + ``model.json`` (+ ``extra_files`` name->source path) atomically."""
    folder = Path(folder).resolve()
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.staging-", dir=folder.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a model folder is shipped and shared
    try:
        _weights_only(model).save(staging / MODEL_FILE)
        meta = {
            "format_version": FORMAT_VERSION,
            "input_channels": int(model.inputs[0].shape[-1]),
            "parameters": int(model.count_params()),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": versions(),
            **metadata,
        }
        (staging / META_FILE).write_text(json.dumps(meta, indent=2, default=_json_default) + "\n")
        for name, source in (extra_files or {}).items():
            if Path(source).is_file():
                shutil.copyfile(source, staging / name)
        return publish_folder(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def read_model_json(folder: str | Path) -> dict:
    """The folder's model.json as a dict; ModelError with a one-line reason if unusable."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"model folder not found: {folder}")
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        raise ModelError(f"{folder} is not a model folder: {META_FILE} is missing")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{meta_path} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise ModelError(f"{meta_path} does not hold a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise ModelError(f"{meta_path} lacks {', '.join(missing)}")
    if meta["format_version"] != FORMAT_VERSION:
        raise ModelError(f"{meta_path} has format version {meta['format_version']}; this app reads {FORMAT_VERSION}")
    for key, least in (("input_channels", 1), ("parameters", 0)):
        if isinstance(meta[key], bool) or not isinstance(meta[key], int) or meta[key] < least:
            raise ModelError(f"{meta_path}: {key} must be a whole number >= {least}, not {meta[key]!r}")
    if not isinstance(meta["architecture"], str):
        raise ModelError(f"{meta_path}: architecture must be a name, not {meta['architecture']!r}")
    meta["normalizer"] = _checked_normalizer(meta["normalizer"], meta_path)
    return meta


def check_model_folder(folder: str | Path) -> dict:
    """Everything about a model folder that can be checked without TensorFlow: its model.json
    (see read_model_json) and a model.keras that is at least a zip archive. The CLI calls this
    before the slow TensorFlow import, and Denoiser.load before loading the network."""
    info = read_model_json(folder)
    path = Path(folder) / MODEL_FILE
    if not path.is_file():
        raise ModelError(f"{folder} is not a model folder: {MODEL_FILE} is missing")
    if not zipfile.is_zipfile(path):  # Keras itself would say "File not found" for any non-zip file
        raise ModelError(f"{path} is not a readable Keras model file "
                         "(not a .keras zip archive: corrupt, truncated or another format)")
    return info


def _checked_normalizer(value, meta_path: Path) -> dict:
    """The normaliser recipe as every reader will use it; ModelError if the app could not apply it.

    One check here means the window and the command line accept exactly the same models."""
    from mri_denoise_gui.core.normalize import Normalizer

    if not isinstance(value, dict):
        raise ModelError(f"{meta_path}: normalizer must be a JSON object, not {value!r}")
    try:
        recipe = Normalizer.from_dict({k: v for k, v in value.items() if k not in ("vmin", "vmax")})
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   for v in (recipe.low, recipe.high)):
            raise ValueError(f"percentiles must be numbers, got {recipe.low!r}, {recipe.high!r}")
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{meta_path} has an unusable normalizer: {exc}") from None
    return {**value, **recipe.to_dict(), "vmin": None, "vmax": None}
