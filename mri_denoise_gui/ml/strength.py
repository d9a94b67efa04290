"""Denoising strength: how hard a network with a noise-level input smooths, chosen at inference.

Why: the default network is told the image's own noise level (``layers.NoiseLevelMap``, FFDNet's
design) and smooths by what it is told. On coarse, small or low-noise scans the in-model estimate
counts fine anatomy as noise and the network removes some of it (benchmarks/README.md, "What the
real references hold"); a user who sees anatomy in the residual can turn the strength down and
keep it, or up to smooth more. 1 is what the model was trained for. Networks without that input
(the seed autoencoder, older models) have no such knob: they are refused, not silently ignored.
"""

from __future__ import annotations

import math

from mri_denoise_gui.ml.errors import ModelError
from mri_denoise_gui.ml.training_choices import STRENGTH_RANGE

NOISE_INPUT_CLASS = "NoiseLevelMap"


def check_strength(strength: float) -> float:
    """``strength`` as a float inside STRENGTH_RANGE, else ValueError with the range."""
    value = float(strength)
    low, high = STRENGTH_RANGE
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"strength must be between {low:g} and {high:g}, got {strength}")
    return value


def has_noise_input(model) -> bool:
    """True when the network is told a noise level it estimates itself (so strength applies)."""
    return any(type(layer).__name__ == NOISE_INPUT_CLASS for layer in model.layers)


def require_noise_input(model, name: str = "this model") -> None:
    """ModelError unless ``model`` has a noise-level input (a strength other than 1 needs one)."""
    if not has_noise_input(model):
        raise ModelError(f"{name} has no noise-level input, so its strength cannot be set "
                         "(the shipped default has one)")


def told_copy(model, sigma: float, name: str = "this model"):
    """A rebuild of ``model`` told the noise sigma (of the [0, 1] image) instead of estimating it,
    with the same weights: what a non-blind comparison (BM3D told the sigma) needs."""
    require_noise_input(model, name)
    if not (math.isfinite(sigma) and 0 <= sigma < 1):
        raise ValueError(f"sigma must be in [0, 1), got {sigma}")
    return _noise_input_rebuilt(model, told=float(sigma))


def _noise_input_rebuilt(model, **settings):
    """``model`` rebuilt with ``settings`` in every noise-level layer's config, same weights."""
    from mri_denoise_gui.ml.precision import rebuilt_with_weights

    config = model.get_config()
    for layer in config["layers"]:
        if layer.get("class_name") == NOISE_INPUT_CLASS:
            layer["config"].update(settings)
    return rebuilt_with_weights(model, config)


def strength_copy(model, strength: float, name: str = "this model"):
    """``model`` itself at strength 1, else a rebuild whose noise-level layers are told ``strength``
    times their estimate, with the same weights (and the same per-layer precision policies)."""
    strength = check_strength(strength)
    if strength == 1.0:
        return model
    require_noise_input(model, name)
    return _noise_input_rebuilt(model, gain=strength)
