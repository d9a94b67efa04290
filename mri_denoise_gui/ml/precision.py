"""Which floating-point precision inference runs in, chosen by the hardware, and the model copy for it.

Why: on a CPU with native bfloat16 dot products (``avx512_bf16`` / ``amx_bf16``) oneDNN runs the
convolutions about twice as fast in bfloat16; on a GPU with tensor cores (compute capability
>= 7.0) float16 does the same. Without that hardware the lower precision is emulated and slower,
so it is detected, never assumed. Weights stay float32 in the model file: a mixed-precision copy
of the loaded network is built in memory, with the layers that need the range (the noise-level
estimate, the output layer that adds the prediction to the input) kept in float32, so the output
is always float32.
"""

from __future__ import annotations

import logging
from pathlib import Path

_log = logging.getLogger(__name__)

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
_MIXED = {"bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
FLOAT32_LAYER_CLASSES = ("NoiseLevelMap",)  # a median of |Haar detail|: needs float32's mantissa


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags the kernel reports (empty where there is no /proc/cpuinfo)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.split(":")[0].strip() in ("flags", "Features"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_native_bf16(flags: set[str] | None = None) -> bool:
    """True when the CPU computes bfloat16 dot products in hardware (not oneDNN emulation)."""
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in CPU_BF16_FLAGS)


def gpu_has_tensor_cores() -> bool:
    """True when the first visible GPU has compute capability >= 7.0 (Volta and later)."""
    import tensorflow as tf

    try:
        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return False
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
    except Exception:  # no details: do not gamble on float16
        return False
    return bool(capability) and tuple(capability) >= (7, 0)


def auto_precision(device: str, flags: set[str] | None = None) -> tuple[str, str]:
    """(precision, why) for ``device`` ("CPU" or "GPU: ..."), as configure_devices describes it."""
    if device.startswith("GPU"):
        if gpu_has_tensor_cores():
            return "float16", "GPU with tensor cores"
        return "float32", "GPU without tensor cores"
    if cpu_has_native_bf16(flags):
        return "bfloat16", "CPU with native bfloat16"
    return "float32", "CPU without native bfloat16"


def resolve(requested: str | None, device: str) -> tuple[str, str]:
    """The precision to run: ``requested`` unless it is "auto" (or None), then the hardware's."""
    requested = (requested or "auto").lower()
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}; choose from {', '.join(PRECISIONS)}")
    if requested == "auto":
        return auto_precision(device)
    return requested, "forced"


def _output_layer_names(model) -> set[str]:
    return {t._keras_history[0].name for t in model.outputs if hasattr(t, "_keras_history")}


def mixed_copy(model, precision: str):
    """``model`` rebuilt under the mixed ``precision`` policy with the same (float32) weights.

    Returns ``model`` itself for float32. The copy's compute dtype is ``precision`` in every layer
    except the noise-level estimate and the output layer, which stay float32 (Keras casts their
    inputs up), so the result is float32 and the input image is subtracted from at full precision.
    """
    import keras

    if precision == "float32":
        return model
    policy = _MIXED[precision]
    keep = _output_layer_names(model)
    config = model.get_config()
    for layer in config["layers"]:
        if layer.get("class_name") == "InputLayer":
            continue
        if layer["config"].get("name") in keep or layer.get("class_name") in FLOAT32_LAYER_CLASSES:
            continue
        layer["config"]["dtype"] = policy
    copy = keras.Model.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def compute_dtypes(model) -> dict[str, str]:
    """Layer name -> compute dtype, to check which precision a model really runs in."""
    return {layer.name: str(layer.compute_dtype) for layer in model.layers}
