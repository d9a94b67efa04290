"""Which floating-point precision inference runs in, chosen by the hardware, and the model copy for it.

Why: on a CPU with native bfloat16 dot products (``amx_bf16``, or AMD's ``avx512_bf16``) oneDNN runs
the convolutions about twice as fast in bfloat16 (an Intel CPU with ``avx512_bf16`` but no AMX ran
them slower than float32); on a GPU with tensor cores (compute capability
>= 7.0) float16 does the same. Without that hardware the lower precision is emulated and slower,
so it is detected, never assumed. Weights stay float32 in the model file: a mixed-precision copy
of the loaded network is built in memory, with the layers that need float32's mantissa kept in
float32: the first two convolutions (which see the image itself), the noise-level estimate, and
the output tail (last convolution, shuffle, and the subtraction of the predicted noise from the
input), so the output is always float32. In that copy the 2x2 stride-2 transposed convolutions
(the U-Net's upsamplers) run as the equal 1x1 convolution + pixel shuffle: TensorFlow's bfloat16
transposed convolution was many times slower than its float32 one.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mri_denoise_gui.ml.training_choices import PRECISIONS  # noqa: F401 - declared once, TF-free; re-exported

_log = logging.getLogger(__name__)

_MIXED = {"bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
FLOAT32_LAYER_CLASSES = ("NoiseLevelMap", "PilotWiener")  # a median of |Haar detail|; the Wiener refinement of the output
HEAD_CONVS = 2  # the first convolutions see the image at full precision (see float32_head)


def _cpuinfo_field(cpuinfo: str | Path, keys: tuple[str, ...]) -> str:
    """The first /proc/cpuinfo value under one of ``keys`` ("" where there is none or no file)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        if line.split(":")[0].strip() in keys:
            return line.split(":", 1)[1].strip()
    return ""


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags the kernel reports (empty where there is no /proc/cpuinfo)."""
    return set(_cpuinfo_field(cpuinfo, ("flags", "Features")).split())


def cpu_vendor(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """"GenuineIntel", "AuthenticAMD", ... ("" where the kernel does not say)."""
    return _cpuinfo_field(cpuinfo, ("vendor_id",))


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


def auto_precision(device: str, flags: set[str] | None = None, vendor: str | None = None) -> tuple[str, str]:
    """(precision, why) for ``device`` ("CPU" or "GPU: ..."), as configure_devices describes it."""
    if device.startswith("GPU"):
        if gpu_has_tensor_cores():
            return "float16", "GPU with tensor cores"
        return "float32", "GPU without tensor cores"
    flags = cpu_flags() if flags is None else flags
    if "amx_bf16" in flags:
        return "bfloat16", "CPU with native bfloat16 (AMX)"
    if cpu_has_native_bf16(flags):
        # measured (benchmarks/README.md, issue 19): AMD's avx512_bf16 runs the default ~1.5-1.8x
        # faster in bfloat16; an Intel Xeon with avx512_bf16 but no AMX ran it at 0.5-0.7x float32
        if (cpu_vendor() if vendor is None else vendor) == "AuthenticAMD":
            return "bfloat16", "CPU with native bfloat16 (AMD avx512_bf16)"
        return "float32", "CPU with avx512_bf16 but no AMX (bfloat16 measured slower there)"
    return "float32", "CPU without native bfloat16"


def resolve(requested: str | None, device: str) -> tuple[str, str]:
    """The precision to run: ``requested`` unless it is "auto" (or None), then the hardware's."""
    requested = (requested or "auto").lower()
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}; choose from {', '.join(PRECISIONS)}")
    if requested == "auto":
        return auto_precision(device)
    return requested, "forced"


def _parents(layer_config: dict) -> set[str]:
    """Names of the layers whose outputs a functional-model layer config takes as inputs."""
    found: set[str] = set()

    def walk(obj):
        if isinstance(obj, dict):
            history = obj.get("keras_history") if isinstance(obj.get("keras_history"), list) else None
            if history:
                found.add(history[0])
            for value in obj.values():
                walk(value)
        elif isinstance(obj, (list, tuple)):
            for value in obj:
                walk(value)

    walk(layer_config.get("inbound_nodes", []))
    return found


def float32_tail(model, config: dict) -> set[str]:
    """The output layers and, behind each, the weight-free layers up to and including the last layer
    with weights (e.g. resunet's noise_out conv + pixel shuffle + the subtraction from the input).

    Why: that tail is cheap, and computing it in float32 spares the result bfloat16's final rounding
    (8 bits: up to 0.4 % of the predicted noise), which is most of its distance from float32.
    """
    by_name = {c["config"].get("name"): c for c in config["layers"]}
    weighted = {layer.name for layer in model.layers if layer.weights}
    inputs = {c["config"].get("name") for c in config["layers"] if c.get("class_name") == "InputLayer"}
    todo = [t._keras_history[0].name for t in model.outputs if hasattr(t, "_keras_history")]
    keep: set[str] = set()
    while todo:
        name = todo.pop()
        if name in keep or name in inputs or name not in by_name:
            continue
        keep.add(name)
        if name not in weighted:
            todo.extend(_parents(by_name[name]))
    return keep


def float32_head(model, config: dict, convs: int = HEAD_CONVS) -> set[str]:
    """The layers from the input up to and including the ``convs``-th layer with a kernel.

    Why: rounding the image (and the first features) to bfloat16's 8 bits costs what a denoiser
    is there to recover. Measured on the default model (demo volume, Rician noise): everything in
    bfloat16 but the output tail lost 0.026 dB of tissue PSNR; with the first two convolutions
    (at full resolution) in float32 as well, within 0.004 dB, at the same speed.
    """
    with_kernel = {layer.name for layer in model.layers if getattr(layer, "kernel", None) is not None}
    keep: set[str] = set()
    seen = 0
    for layer in config["layers"]:  # a functional model's config lists layers in topological order
        name = layer["config"].get("name")
        if layer.get("class_name") == "InputLayer":
            continue
        if seen >= convs:
            break
        keep.add(name)
        seen += name in with_kernel
    return keep


def mixed_copy(model, precision: str, head_convs: int = HEAD_CONVS, upsample_as_conv: bool = True):
    """``model`` rebuilt under the mixed ``precision`` policy with the same (float32) weights.

    Returns ``model`` itself for float32. The copy's compute dtype is ``precision`` in every layer
    except the input head (`float32_head`, ``head_convs`` convolutions; 0: none), the noise-level
    estimate and the output tail (`float32_tail`), which stay float32 (Keras casts their inputs
    up), so the result is float32 and the input is subtracted from in full. ``upsample_as_conv``:
    2x2 stride-2 transposed convolutions run as the equal 1x1 convolution + pixel shuffle
    (`_upsamplers_as_convs`).
    """
    if precision == "float32":
        return model
    config = model.get_config()
    keep = float32_tail(model, config) | (float32_head(model, config, head_convs) if head_convs else set())
    if upsample_as_conv:
        _upsamplers_as_convs(config)
    return _rebuilt(model, config, _MIXED[precision], keep)


#: the name suffix of the 1x1 convolution an upsampler runs as (`_upsamplers_as_convs`)
AS_CONV = "_1x1"


def _upsamplers_as_convs(config: dict) -> dict[str, str]:
    """Rewrite in ``config`` every Conv2DTranspose with a 2x2 kernel, stride 2 and no activation as a
    1x1 Conv2D to 4x the filters (``<name>`` + AS_CONV) followed by PixelShuffle(2) (named ``<name>``,
    so the layers after it still find it, and `copy_weights` finds the kernel by that name).
    Returns {1x1 conv name: transposed conv name}.

    Why: the two are the same arithmetic (each input pixel times the kernel gives a 2x2 output
    block), but TensorFlow runs a transposed convolution as a convolution's input gradient, which
    in bfloat16 was 8-14x slower than float32 where the 1x1 convolution was not (benchmarks/README.md).
    """
    rewritten: dict[str, str] = {}
    layers = []
    for layer in config["layers"]:
        c = layer["config"]
        if not (layer.get("class_name") == "Conv2DTranspose" and list(c.get("kernel_size", ())) == [2, 2]
                and list(c.get("strides", ())) == [2, 2] and c.get("padding") == "same"
                and c.get("activation") in ("linear", None) and c.get("output_padding") is None
                and list(c.get("dilation_rate", (1, 1))) == [1, 1]
                and c.get("data_format", "channels_last") == "channels_last"):
            layers.append(layer)
            continue
        name, conv = c["name"], c["name"] + AS_CONV
        channels = 4 * int(c["filters"])
        layers.append({"module": "keras.layers", "class_name": "Conv2D", "registered_name": None, "name": conv,
                       "config": {"name": conv, "trainable": c.get("trainable", True), "dtype": c["dtype"],
                                  "filters": channels, "kernel_size": [1, 1], "use_bias": c.get("use_bias", True)},
                       "inbound_nodes": layer["inbound_nodes"]})
        tensor = {"class_name": "__keras_tensor__",
                  "config": {"shape": [None, None, None, channels], "dtype": "float32", "keras_history": [conv, 0, 0]}}
        layers.append({"module": "mri_denoise_gui.ml.layers", "class_name": "PixelShuffle",
                       "registered_name": "mri_denoise_gui>PixelShuffle", "name": name,
                       "config": {"name": name, "trainable": c.get("trainable", True), "dtype": c["dtype"], "factor": 2},
                       "inbound_nodes": [{"args": [tensor], "kwargs": {}}]})
        rewritten[conv] = name
    config["layers"] = layers
    return rewritten


def _rebuilt(model, config: dict, policy: str, keep: set[str]):
    """``model`` rebuilt from ``config`` with every layer but ``keep`` (and the float32-only
    classes) under dtype ``policy``, holding ``model``'s weights (`copy_weights`)."""
    for layer in config["layers"]:
        if layer.get("class_name") == "InputLayer":
            continue
        if layer["config"].get("name") in keep or layer.get("class_name") in FLOAT32_LAYER_CLASSES:
            continue
        layer["config"]["dtype"] = policy
    return rebuilt_with_weights(model, config)


def rebuilt_with_weights(model, config: dict):
    """A new network from ``config`` (``model``'s, edited) holding ``model``'s weights (`copy_weights`).
    Shared by the precision copies here and the strength copies (``ml/strength.py``)."""
    import keras

    copy = keras.Model.from_config(config)
    copy_weights(model, copy)
    return copy


def copy_weights(model, copy) -> None:
    """Assign ``model``'s weights to ``copy``, a rebuild of it, by layer name; a 1x1 convolution
    that `_upsamplers_as_convs` made of transposed convolution ``<name>`` (``<name>`` + AS_CONV, a
    name only ``copy`` has) gets that convolution's kernel, reshaped.

    Why assign rather than rebuild: the copy's variables are what its traced graph reads, so new
    weights (an adaptation's) reach a fast copy without a new network or a new trace.
    """
    import numpy as np

    source = {layer.name: layer for layer in model.layers}
    for layer in copy.layers:
        if not layer.weights:
            continue
        if layer.name not in source and layer.name.endswith(AS_CONV):
            origin = layer.name[:-len(AS_CONV)]
            kernel, *bias = source[origin].get_weights()  # kernel (2, 2, out, in)
            out, cin = kernel.shape[2], kernel.shape[3]
            weights = [np.transpose(kernel, (3, 0, 1, 2)).reshape(1, 1, cin, 4 * out)]  # channels (row, col, out)
            layer.set_weights(weights + [np.tile(b, 4) for b in bias])
        else:
            layer.set_weights(source[layer.name].get_weights())


def float32_copy(model):
    """``model`` itself if every layer computes in float32, else a float32 rebuild with its weights.

    Why: a model trained under a mixed policy would carry that policy into model.keras, and every
    later load (and the LiteRT conversion) would run in it; the saved file is always float32.
    """
    if all(str(layer.compute_dtype) == "float32" for layer in model.layers):
        return model
    return _rebuilt(model, model.get_config(), "float32", set())


def training_precision(requested: str | None, device: str) -> tuple[str, str]:
    """(precision, why) training computes in: ``requested``, or for "auto" float32.

    Why auto stays float32: a mixed policy is worth it only where it trains to the same validation
    scores, and that has been measured on one recipe only (benchmarks/README.md, issue 19); a forced
    lower precision on hardware that only emulates it is allowed but said.
    """
    requested = (requested or "auto").lower()
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}; choose from {', '.join(PRECISIONS)}")
    if requested in ("auto", "float32"):
        return "float32", "auto: float32 (lower precisions not yet shown to train as well)" \
            if requested == "auto" else "forced"
    native = auto_precision(device)[0] == requested
    return requested, "forced" if native else f"forced (emulated on this {device.split(':')[0]}: slower)"


def training_copy(model, precision: str):
    """``model`` under the mixed ``precision`` policy for training: every layer but the output tail
    and the noise-level estimate, so the loss sees a float32 output (Keras' mixed-precision recipe).
    The variables stay float32; `float32_copy` turns it back before saving (so no layer is rewritten)."""
    return mixed_copy(model, precision, head_convs=0, upsample_as_conv=False)


def training_optimizer(optimizer, precision: str):
    """``optimizer`` wrapped in dynamic loss scaling for float16 (its gradients would underflow)."""
    import keras

    if precision != "float16":
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer)


def compute_dtypes(model) -> dict[str, str]:
    """Layer name -> compute dtype, to check which precision a model really runs in."""
    return {layer.name: str(layer.compute_dtype) for layer in model.layers}
