"""May training write its model to this folder? One TF-free judge for the CLI, the dialog and
``publish_folder``.

Publishing a model replaces the whole folder, so the folder must be missing, empty, or a model
folder this app wrote: only our own files, and a ``model.json`` that names this app. Anything
else (a folder of scans, a thesis, an input file, a folder inside the training data, the model
being fine-tuned) is refused with a one-line reason instead of being deleted.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Iterable

MODEL_FILE = "model.keras"
META_FILE = "model.json"
#: what a model folder written by this app (or packaging/train_shipped_models.py) may hold
OWN_FILE = re.compile(r"(model\.keras|model\.json|model\.tflite(\.json)?|training_log(_stage\d+)?\.csv)")
#: the key in model.json's "versions" that marks a folder this app wrote
MARKER = "mri_denoise_gui"


def is_own_model_folder(folder: str | os.PathLike) -> bool:
    """True for a folder that only holds this app's model files, with a model.json naming this app."""
    folder = Path(folder)
    try:
        if not folder.is_dir():
            return False
        with os.scandir(folder) as entries:  # only our names, and only plain files (no links, no folders)
            if any(not (OWN_FILE.fullmatch(e.name) and e.is_file(follow_symlinks=False)) for e in entries):
                return False
        path = folder / META_FILE
        if not path.is_file():
            return False
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    versions = meta.get("versions") if isinstance(meta, dict) else None
    return isinstance(versions, dict) and bool(versions.get(MARKER))


def replace_problem(folder: str | os.PathLike) -> str | None:
    """Why publishing a model must not replace ``folder`` (None when it may)."""
    folder = Path(folder)
    try:
        if folder.is_symlink() and not folder.exists():
            return "is a broken symbolic link"
        if not folder.exists():
            return None
        if not folder.is_dir():
            return "is a file, not a folder: training would replace it"
        with os.scandir(folder) as entries:
            empty = next(entries, None) is None
        if empty or is_own_model_folder(folder):
            return None
    except OSError as exc:
        return f"cannot be checked ({exc.strerror or exc})"
    return "holds files that are not a model written by this app: training would replace them"


def _real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(Path(path).expanduser()))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def output_problem(out: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (),
                   init_from: str | os.PathLike | None = None) -> str | None:
    """Why ``out`` cannot take a trained model (None when it can), in words for the user.

    ``inputs`` are the training data files and folders: ``out`` may not be one of them (by name,
    symbolic link, hard link or ``..``) nor lie inside one. ``init_from`` is the model being
    fine-tuned, which the new model must not replace.
    """
    real = _real(out)
    for given in inputs:
        source = _real(given)
        if real == source or _same_file(real, source):
            return f"is the training input {given}: choose another folder"
        if source.is_dir() and real.is_relative_to(source):
            where = "is a file in" if real.is_file() else "is inside"
            return f"{where} the training data folder {given}: choose another folder"
    if init_from and (real == _real(init_from) or _same_file(real, _real(init_from))):
        return "is the model being fine-tuned: choose another folder"
    problem = replace_problem(real)
    if problem:
        return problem
    parent = real.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot be created: {parent} is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be written: {parent} is read-only"
    return None
