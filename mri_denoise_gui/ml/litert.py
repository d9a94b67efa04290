"""A LiteRT copy of a model (``model.tflite``) that denoises the first slices while TensorFlow loads.

Why: importing TensorFlow + Keras takes 4-7 s; ``ai-edge-litert``'s interpreter imports in about a
tenth of a second, so the first denoised slice can be on screen within about two seconds of launch.
It is slower per slice than TensorFlow, so it is only a bridge: the GUI's worker switches to
TensorFlow as soon as it is ready. The copy is written beside ``model.keras`` with the SHA-256 of
that file in ``model.tflite.json``; a missing, stale or unreadable copy is simply not used.
This module imports neither TensorFlow nor Keras at module level (conversion imports them).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
from pathlib import Path

import numpy as np

from mri_denoise_gui.core.outputs import write_file_atomic
from mri_denoise_gui.ml.modelfile import MODEL_FILE, read_model_json
from mri_denoise_gui.ml.padding import crop_clip, pad_slices

_log = logging.getLogger(__name__)

LITE_FILE = "model.tflite"
LITE_META = "model.tflite.json"
MAX_PIXELS = 1024 * 1024  # larger slices wait for TensorFlow, which tiles them


def keras_sha256(folder: str | Path) -> str:
    digest = hashlib.sha256()
    with open(Path(folder) / MODEL_FILE, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lite_is_fresh(folder: str | Path) -> bool:
    """True when ``model.tflite`` exists and was converted from the ``model.keras`` now there."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / LITE_META).read_text())
        return (folder / LITE_FILE).is_file() and meta.get("model_keras_sha256") == keras_sha256(folder)
    except (OSError, ValueError, AttributeError):
        return False


def convert(model) -> bytes:
    """The Keras ``model`` as a LiteRT flatbuffer with TFLite builtin ops only (float32)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its SavedModel endpoints
        return converter.convert()


def write_lite_copy(folder: str | Path, model=None) -> Path:
    """Convert ``folder``'s model.keras (or the given in-memory ``model`` of it) to model.tflite.

    Only for folders the app wrote (training, the shipped models): it adds two files and touches
    nothing else. Each file is replaced atomically; the hash is written last, so a crash in
    between leaves a copy that reads as stale rather than a wrong one that reads as fresh.
    """
    folder = Path(folder)
    if model is None:
        import keras

        from mri_denoise_gui.ml import layers  # noqa: F401 - registers the custom layers

        model = keras.saving.load_model(str(folder / MODEL_FILE), compile=False, safe_mode=True)
    import tensorflow as tf

    (folder / LITE_META).unlink(missing_ok=True)
    write_file_atomic(folder / LITE_FILE, convert(model))
    meta = {"model_keras_sha256": keras_sha256(folder), "converted_with": {"tensorflow": tf.__version__},
            "ops": "TFLITE_BUILTINS", "dtype": "float32"}
    write_file_atomic(folder / LITE_META, json.dumps(meta, indent=2) + "\n")
    return folder / LITE_FILE


class LiteDenoiser:
    """Denoises single slices with the LiteRT interpreter, exactly as `inference.Denoiser` would.

    ``load`` returns None when there is no fresh copy or no LiteRT runtime: the caller then waits
    for TensorFlow. ``denoise_slice01`` returns None for slices too large to run untiled.
    """

    precision = "float32"

    def __init__(self, interpreter, info: dict, folder: Path):
        self.interpreter = interpreter
        self.info = info
        self.folder = folder
        self.name = str(info.get("name") or folder.name)
        self.stride = int(info.get("stride") or 8)
        self.device = "CPU (LiteRT)"
        self._input = interpreter.get_input_details()[0]
        self._output = interpreter.get_output_details()[0]
        signature = self._input.get("shape_signature", self._input["shape"])
        h, w = int(signature[1]), int(signature[2])
        self.fixed_size = (h, w) if h > 0 and w > 0 else None
        self._shape = None

    @classmethod
    def load(cls, folder: str | Path, threads: int | None = None) -> "LiteDenoiser | None":
        folder = Path(folder)
        if not lite_is_fresh(folder):
            return None
        try:
            info = read_model_json(folder)
            from ai_edge_litert.interpreter import Interpreter

            interpreter = Interpreter(model_path=str(folder / LITE_FILE), num_threads=threads or os.cpu_count() or 1)
            return cls(interpreter, info, folder)
        except Exception as exc:  # no runtime, unreadable copy: TensorFlow will do it
            _log.info("no LiteRT copy used for %s: %s", folder, exc)
            return None

    def denoise_slice01(self, image: np.ndarray) -> np.ndarray | None:
        """Denoise one 2D slice in [0, 1] (same padding, cropping and clipping as the TF path)."""
        image = np.asarray(image, dtype=np.float32)
        if image.ndim != 2:
            raise ValueError(f"expected a 2D slice, got shape {image.shape}")
        stack = image[None]
        padded = pad_slices(stack, self.fixed_size, self.stride)
        if padded.shape[1] * padded.shape[2] > MAX_PIXELS or (
                self.fixed_size and padded.shape[1:] != tuple(self.fixed_size)):
            return None
        x = np.ascontiguousarray(padded[..., None])
        if self._shape != x.shape:
            self.interpreter.resize_tensor_input(self._input["index"], x.shape)
            self.interpreter.allocate_tensors()
            self._shape = x.shape
        self.interpreter.set_tensor(self._input["index"], x)
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self._output["index"])[..., 0]
        return crop_clip(out, stack)[0]
