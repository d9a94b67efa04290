"""Denoising with a saved model folder: safe loading, padding to the stride, batching, tiling.

``Denoiser`` is what the GUI's inference worker and the CLI hold. Loading refuses anything that
would need unsafe deserialisation; prediction runs one traced function with a fully dynamic
input signature, so scrubbing through slices or volumes of any size never retraces.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import zipfile
from pathlib import Path

import numpy as np

from mri_denoise_gui.ml.native_log import quiet_native_stderr

with quiet_native_stderr():  # TensorFlow's import chatter ignores TF_CPP_MIN_LOG_LEVEL (see native_log)
    import keras
    import tensorflow as tf

from mri_denoise_gui.core.errors import first_line
from mri_denoise_gui.core.normalize import Normalizer
from mri_denoise_gui.ml import layers as _registered_layers  # noqa: F401 - custom layers must be registered before loading
from mri_denoise_gui.ml import precision as _precision
from mri_denoise_gui.ml import strength as _strength
from mri_denoise_gui.ml.device import configure_devices
from mri_denoise_gui.ml.errors import Cancelled, ModelError
from mri_denoise_gui.ml.modelfile import MODEL_FILE, check_model_folder
from mri_denoise_gui.ml.padding import crop_clip, pad_slices

_log = logging.getLogger(__name__)

MAX_PIXELS = 1024 * 1024  # larger slices are tiled
TILE = 512
TILE_MARGIN = 32


def _load_keras(path: Path):
    unreadable = f"{path} is not a readable Keras model file"
    try:
        return keras.saving.load_model(str(path), compile=False, safe_mode=True)
    except ValueError as exc:
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text or "unsafe" in text.lower():
            raise ModelError(f"{path} refused: it needs unsafe deserialisation (e.g. a Lambda layer), "
                             "which could run arbitrary code") from None
        if "File not found" in text:
            raise ModelError(f"{unreadable} (corrupt or truncated)") from None
        raise ModelError(f"{path} is not a usable Keras model: {first_line(exc)}") from None
    except (zipfile.BadZipFile, OSError, KeyError, TypeError, AttributeError, EOFError) as exc:
        raise ModelError(f"{unreadable} ({first_line(exc)})") from None
    except Exception as exc:  # h5py / deserialisation errors come in many types
        raise ModelError(f"{path} could not be loaded: {first_line(exc)}") from None


def _check_network(model, path: Path) -> None:
    """One input and one output, 2D single-channel in and out, and only finite weights."""
    if not isinstance(model, keras.Model) or len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"{path} must have exactly one input and one output")
    in_shape, out_shape = model.inputs[0].shape, model.outputs[0].shape
    if len(in_shape) != 4 or len(out_shape) != 4:
        raise ModelError(f"{path} maps {len(in_shape) - 1}D inputs to {len(out_shape) - 1}D outputs; "
                         "a denoiser maps 2D slices (H, W, 1) to 2D slices")
    if in_shape[-1] != 1:
        raise ModelError(f"{path} takes {in_shape[-1]} input channels; an MRI slice has 1")
    if out_shape[-1] != 1:
        raise ModelError(f"{path} outputs {out_shape[-1]} channels; a denoiser must output 1")
    for weight in model.weights:
        if not np.all(np.isfinite(keras.ops.convert_to_numpy(weight))):
            raise ModelError(f"{path} holds NaN or infinite weights ({weight.path}): "
                             "it would output nothing but NaN; retrain or pick another model")


#: compute copies a Denoiser keeps (float32 and the fast precision, at two strengths, say)
COPIES_KEPT = 4


@dataclasses.dataclass(frozen=True)
class _ComputeCopy:
    """One way of running the network: its precision, why, the (copied) model and its traced call."""
    precision: str
    reason: str
    model: object
    predict: object

    @classmethod
    def of(cls, precision: str, reason: str, network) -> "_ComputeCopy":
        def call(x):
            return tf.cast(network(x, training=False), tf.float32)

        return cls(precision, reason, network, tf.function(
            call, reduce_retracing=True, input_signature=[tf.TensorSpec([None, None, None, 1], tf.float32)]))


class Denoiser:
    """A loaded model folder, ready to denoise normalised slices and whole volumes."""

    def __init__(self, model, info: dict, folder: Path, device: str):
        self.model = model
        self.info = info
        self.folder = Path(folder)
        self.device = device
        self.name = str(info.get("name") or self.folder.name)
        self.stride = int(info.get("stride") or 8)
        shape = model.inputs[0].shape
        self.fixed_size = (shape[1], shape[2]) if shape[1] is not None and shape[2] is not None else None
        self._force_cpu = False
        self.strength = 1.0
        self._copies: dict[tuple[str, float], _ComputeCopy] = {}
        self.set_precision("float32")

    def set_precision(self, requested: str | None = "auto") -> str:
        """Run in ``requested`` precision ("auto": what this device computes natively; see
        ml/precision.py). The weights stay float32; returns the precision that will run.

        The copies of the network this needs (lower precision, another strength) and their traced
        graphs are built once and kept (`COPIES_KEPT`, the least recently used dropped); switching
        back assigns the current weights to the kept copy. Why: rebuilding and retracing on every
        switch left the old copies in reference cycles, and Python's full collections freeing them
        grew to pauses of seconds to tens of seconds that hold the GIL (benchmarks/README.md,
        "Switching precision, strength and weights")."""
        self.precision_requested = requested
        chosen, why = _precision.resolve(requested, self.device)
        key = (chosen, self.strength)
        copy = self._copies.pop(key, None)
        if copy is None:
            copy = self._new_copy(chosen, why)
        elif copy.model is not self.model:
            _precision.copy_weights(self.model, copy.model)
        self._copies[key] = copy  # the most recently used last
        while len(self._copies) > COPIES_KEPT:
            self._copies.pop(next(iter(self._copies)))
        # the reason as asked now ("auto: ..." or "forced"), unless the copy fell back to float32
        self._install(copy, why if copy.precision == chosen else copy.reason)
        return copy.precision

    def _install(self, copy: "_ComputeCopy", reason: str) -> None:
        self.precision, self.precision_reason, self.compute_model = copy.precision, reason, copy.model
        self._predict = copy.predict

    def _new_copy(self, chosen: str, why: str) -> "_ComputeCopy":
        try:
            compute = _precision.mixed_copy(self.model, chosen)
        except Exception as exc:  # a network Keras cannot rebuild from its config: stay exact
            _log.warning("no %s copy of %s (%s); running float32", chosen, self.name, first_line(exc))
            chosen, why, compute = "float32", f"{chosen} copy failed", self.model
        return _ComputeCopy.of(chosen, why, _strength.strength_copy(compute, self.strength, self.name))

    def use_network(self, network, precision: str, reason: str) -> None:
        """Compute with ``network`` (another copy of ``model``, built by a benchmark, say) until the
        next switch; it is not kept among the copies."""
        self._install(_ComputeCopy.of(precision, reason, network), reason)

    def set_strength(self, strength: float) -> float:
        """Denoise at ``strength`` (1: as trained; ``ml/strength.py``), keeping the precision.
        ModelError for a network without a noise-level input, ValueError outside the range."""
        strength = self._checked_strength(strength)
        if strength != self.strength:
            self.strength = strength
            self.set_precision(self.precision_requested)
        return strength

    def _checked_strength(self, strength: float) -> float:
        strength = _strength.check_strength(strength)
        if strength != 1.0:
            _strength.require_noise_input(self.model, self.name)
        return strength

    def set_weights(self, weights) -> None:
        """New weights for the network (restored after an adaptation, say), assigned to the copy
        that computes too: setting ``model``'s weights alone leaves that copy computing with the old
        ones."""
        self.model.set_weights(weights)
        if self.compute_model is not self.model:
            _precision.copy_weights(self.model, self.compute_model)

    @classmethod
    def load(cls, folder: str | Path, precision: str | None = "auto", strength: float = 1.0,
             strict_strength: bool = True) -> "Denoiser":
        """Load ``folder`` (model.keras + model.json); ModelError with a one-line reason if unusable.

        ``precision``: "auto" (the hardware's fastest exact-enough one), "float32", "bfloat16", "float16".
        ``strength`` is applied as the inference copy is built (one build, not two); a network
        without a noise-level input refuses a strength other than 1 (ModelError), or, with
        ``strict_strength`` False, runs at 1 (the window, whose remembered strength is for models
        that have the input).
        """
        folder = Path(folder)
        info = check_model_folder(folder)
        path = folder / MODEL_FILE
        device = configure_devices()
        model = _load_keras(path)
        _check_network(model, path)
        if info["input_channels"] != 1 or info["parameters"] != model.count_params():
            raise ModelError(f"{folder}/model.json does not match {MODEL_FILE} "
                             f"(json: {info['parameters']} parameters, file: {model.count_params()})")
        denoiser = cls(model, info, folder, device)
        if strict_strength or _strength.has_noise_input(model):
            denoiser.strength = denoiser._checked_strength(strength)
        denoiser.set_precision(precision)
        return denoiser

    # ------------------------------------------------------------ prediction

    def _run(self, batch: np.ndarray) -> np.ndarray:
        x = tf.convert_to_tensor(batch[..., None], tf.float32)
        if not self._force_cpu:
            try:
                return self._predict(x).numpy()[..., 0]
            except (tf.errors.InternalError, tf.errors.UnknownError) as exc:
                if not self.device.startswith("GPU"):
                    raise
                _log.warning("GPU failed (%s); falling back to the CPU", first_line(exc))
                self._force_cpu = True
                self.device = f"CPU (GPU failed: {first_line(exc)})"
                if self.precision == "float16":  # emulated on a CPU: slower than float32
                    self.set_precision("float32")
        with tf.device("/CPU:0"):
            return self._predict(x).numpy()[..., 0]

    def _pad(self, slices: np.ndarray):
        return pad_slices(slices, self.fixed_size, self.stride)

    def _tile_size(self, h: int, w: int, tile: int) -> tuple[int, int]:
        if self.fixed_size:
            return self.fixed_size
        return min(tile, h), min(tile, w)

    def _predict_tiled(self, padded: np.ndarray, tile: int, batch_size: int) -> np.ndarray:
        """Predict large slices in overlapping tiles, keeping each tile's centre."""
        n, h, w = padded.shape
        th, tw = self._tile_size(h, w, tile)
        m = min(TILE_MARGIN, th // 4, tw // 4)

        def starts(size, t):
            if size <= t:
                return [0]
            step = max(t - 2 * m, 1)
            out = list(range(0, size - t, step))
            return out + [size - t]

        out = np.empty_like(padded)
        for y in starts(h, th):
            for x in starts(w, tw):
                tiles = padded[:, y:y + th, x:x + tw]
                pred = np.concatenate([self._run(tiles[i:i + batch_size]) for i in range(0, n, batch_size)])
                y0 = 0 if y == 0 else y + m
                x0 = 0 if x == 0 else x + m
                y1 = h if y + th >= h else y + th - m
                x1 = w if x + tw >= w else x + tw - m
                out[:, y0:y1, x0:x1] = pred[:, y0 - y:y1 - y, x0 - x:x1 - x]
        return out

    def _predict_padded(self, padded: np.ndarray, batch_size: int) -> np.ndarray:
        """Whole slices in batches, or tiles when too large; on out-of-memory halve the batch,
        then the tile, before giving up."""
        tile, tiled = TILE, False
        h, w = padded.shape[1:]
        if (self.fixed_size and (h, w) != tuple(self.fixed_size)) or h * w > MAX_PIXELS:
            tiled = True
        while True:
            try:
                if tiled:
                    return self._predict_tiled(padded, tile, batch_size)
                return np.concatenate([self._run(padded[i:i + batch_size])
                                       for i in range(0, len(padded), batch_size)])
            except tf.errors.ResourceExhaustedError:
                if batch_size > 1:
                    batch_size = max(1, batch_size // 2)
                elif not self.fixed_size and tile > 64 and (not tiled or tile // 2 >= self.stride):
                    tile = tile // 2 if tiled else min(TILE, max(h, w) // 2)
                    tile -= tile % self.stride
                    tiled = True
                else:
                    raise ModelError("out of memory even for one slice at the smallest tile size") from None
                _log.warning("out of memory: retrying with batch %d%s", batch_size,
                             f", tiles of {tile}" if tiled else "")

    def denoise_slices01(self, slices: np.ndarray, batch_size: int = 8, progress=None,
                         cancel: threading.Event | None = None) -> np.ndarray:
        """Denoise a stack (N, H, W) of slices in [0, 1]; returns the same shape, float32."""
        slices = np.asarray(slices, dtype=np.float32)
        if slices.ndim != 3:
            raise ValueError(f"expected a stack of 2D slices (N, H, W), got shape {slices.shape}")
        n = slices.shape[0]
        if n == 0:
            return slices.copy()
        padded = self._pad(slices)
        out = np.empty_like(padded)
        chunk = max(1, int(batch_size))
        for start in range(0, n, chunk):
            if cancel is not None and cancel.is_set():
                raise Cancelled("denoising cancelled")
            out[start:start + chunk] = self._predict_padded(padded[start:start + chunk], chunk)
            if progress is not None:
                progress(min(start + chunk, n), n)
        return crop_clip(out, slices)

    def denoise_slice01(self, image: np.ndarray) -> np.ndarray:
        """Denoise one 2D slice in [0, 1]."""
        image = np.asarray(image, dtype=np.float32)
        if image.ndim != 2:
            raise ValueError(f"expected a 2D slice, got shape {image.shape}")
        return self.denoise_slices01(image[None])[0]

    # alias matching the wording
    denoise_slice = denoise_slice01

    def denoise_volume01(self, data01: np.ndarray, axis: int = 2, batch_size: int = 8, progress=None,
                         cancel: threading.Event | None = None) -> np.ndarray:
        """Denoise a normalised 3D volume slice by slice along ``axis`` (same shape back)."""
        data01 = np.asarray(data01, dtype=np.float32)
        if data01.ndim == 2:
            return self.denoise_slice01(data01)
        if data01.ndim != 3:
            raise ValueError(f"expected a 3D volume, got shape {data01.shape}")
        if axis not in (0, 1, 2):
            raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
        stack = np.moveaxis(data01, axis, 0)
        out = self.denoise_slices01(stack, batch_size=batch_size, progress=progress, cancel=cancel)
        return np.ascontiguousarray(np.moveaxis(out, 0, axis))

    def normalizer(self) -> Normalizer:
        """The model's normalisation recipe (unfitted: it is fitted to each volume)."""
        d = dict(self.info.get("normalizer") or {})
        d.pop("vmin", None)
        d.pop("vmax", None)
        return Normalizer.from_dict(d)

    def denoise_volume(self, volume, axis: int = 2, batch_size: int = 8, progress=None,
                       cancel: threading.Event | None = None) -> np.ndarray:
        """Denoise a core Volume (or a raw array) and return it in the volume's own units.

        Intensities the normaliser clipped (beyond its percentiles) keep their clipped-off part,
        so hot voxels are not flattened by the round trip.
        """
        data = np.asarray(getattr(volume, "data", volume), dtype=np.float32)
        norm = self.normalizer().fit(data)
        data01 = norm.forward(data, clip=True)
        den01 = self.denoise_volume01(data01, axis=axis, batch_size=batch_size, progress=progress, cancel=cancel)
        return (norm.inverse(den01) + (data - norm.inverse(data01))).astype(np.float32)

    def provenance(self) -> dict:
        """What a sidecar should say about this model."""
        keys = ("name", "architecture", "architecture_options", "noise", "validation", "created", "versions")
        return {"folder": str(self.folder), "device": self.device, "precision": self.precision,
                "strength": self.strength,
                **{k: self.info[k] for k in keys if k in self.info}}
