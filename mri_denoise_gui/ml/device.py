"""Choosing where TensorFlow runs: GPU vs CPU (the distribution strategy is ml/distribute.py's)."""

from __future__ import annotations

import logging

_log = logging.getLogger(__name__)
_configured: str | None = None


def configure_devices() -> str:
    """Enable memory growth on every visible GPU and describe the device that will be used.

    Returns "GPU: <name>" (or "GPUs: n x <name>") when TensorFlow sees a GPU, else "CPU".
    Memory growth must be set before a GPU is initialised; if that is too late we keep going
    (TensorFlow then simply reserves memory up front) rather than fail.
    """
    global _configured
    if _configured is not None:
        return _configured
    from mri_denoise_gui.ml.native_log import quiet_native_stderr

    with quiet_native_stderr():  # first device use: CUDA's "failed call to cuInit" without a driver
        import tensorflow as tf

        try:
            gpus = tf.config.list_physical_devices("GPU")
        except Exception as exc:  # a broken CUDA install must not stop CPU inference
            _log.warning("could not list GPUs (%s); using the CPU", exc)
            gpus = []
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError) as exc:
            _log.info("memory growth not set on %s: %s", gpu.name, exc)
    if not gpus:
        _configured = "CPU"
    else:
        try:
            details = tf.config.experimental.get_device_details(gpus[0])
            name = details.get("device_name", gpus[0].name)
        except Exception:
            name = gpus[0].name
        _configured = f"GPU: {name}" if len(gpus) == 1 else f"GPUs: {len(gpus)} x {name}"
    return _configured

