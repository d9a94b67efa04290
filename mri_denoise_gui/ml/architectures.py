"""The network registry: ``build(name, **options)`` and what each architecture looks like.

Every network maps a (H, W, 1) image in [0, 1] to a (H, W, 1) image and is fully
convolutional; ``stride(name, **options)`` says the multiple H and W must be padded to.
"""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np
from keras import layers

from mri_denoise_gui.ml.layers import (WIENER_BLOCK, WIENER_STRIDE, ChannelSlice, NoiseLevelMap, PilotWiener,
                                       PixelShuffle, PixelUnshuffle)
from mri_denoise_gui.ml.training_choices import DEFAULT_ARCH, SEED_ARCH, stride  # noqa: F401 - re-exported


def build_seed_autoencoder(input_size: int | None = 256, dropout: float = 0.2) -> keras.Model:
    """The tutorial's 6-block convolutional autoencoder, kept exactly as the baseline.

    Conv 64k3s2 / 128k5s2 / 256k3s2, ConvTranspose 128k3s2 / 64k3s2 / 1k3s2, each followed by
    LeakyReLU, Dropout and BatchNormalization, orthogonal init (872,709 parameters).
    """
    size = input_size if input_size else None
    inputs = keras.Input(shape=(size, size, 1), name="noisy")
    x = inputs
    blocks = [
        (layers.Conv2D, 64, 3),
        (layers.Conv2D, 128, 5),
        (layers.Conv2D, 256, 3),
        (layers.Conv2DTranspose, 128, 3),
        (layers.Conv2DTranspose, 64, 3),
        (layers.Conv2DTranspose, 1, 3),
    ]
    for i, (conv, filters, kernel) in enumerate(blocks):
        x = conv(filters, kernel, strides=2, padding="same",
                 kernel_initializer="orthogonal", name=f"conv{i + 1}")(x)
        x = layers.LeakyReLU(name=f"leaky{i + 1}")(x)
        x = layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
        x = layers.BatchNormalization(name=f"bn{i + 1}")(x)
    return keras.Model(inputs, x, name="seed_autoencoder")


def _conv(x, filters, name, strides=1):
    return layers.Conv2D(filters, 3, strides=strides, padding="same", activation="relu",
                         kernel_initializer="he_normal", name=name)(x)


#: layers of ``mid_blocks``: new to a grown network, and neutral there as built
MID_BLOCK_PREFIX = "mid_res"


def build_resunet(width: int = 16, levels: int = 2, unshuffle: int = 2, growth: int = 2,
                  noise_level: bool = False, input_size: int | None = None, context: int = 0,
                  mid_blocks: int = 0, wiener: bool = False, wiener_block: int = WIENER_BLOCK,
                  wiener_stride: int = WIENER_STRIDE) -> keras.Model:
    """A small residual U-Net that works at 1/``unshuffle`` resolution and predicts the noise.

    Why this shape: pixel-unshuffle (FFDNet) quarters the pixels every convolution touches, the
    U-Net levels give a receptive field wide enough to be blind to the noise level, and
    predicting the noise (output = input - noise) keeps tissue contrast the net need not learn.
    No normalisation layers, so inference is the same at any batch size. ``noise_level`` adds the
    image's own estimated sigma as one more channel (`layers.NoiseLevelMap`; needs ``unshuffle=2``).
    ``context`` > 0 (2.5D, issue 14): the input is a stack of 1 + 2 * context slices, the one to
    denoise first and its neighbours after it; the neighbours' channels are appended after the
    noise level, so ``grow`` turns a 2D network into this one computing the same until trained.
    ``mid_blocks`` residual blocks at the coarsest level widen the receptive field and add capacity
    where a convolution costs 1/64 of one at full resolution; their last convolution starts at
    zero, so ``grow`` adds them to a trained network that computes the same until trained.
    ``wiener`` refines the output by `layers.PilotWiener` (no weights; needs ``noise_level``): the
    network's output is the pilot of an empirical Wiener filter of the noisy slice, in DCT blocks of
    ``wiener_block`` px every ``wiener_stride`` px (options, so model.json records them).
    """
    if noise_level and unshuffle != 2:
        raise ValueError("noise_level needs unshuffle=2 (it reads the 2x2 Haar detail)")
    if wiener and not noise_level:
        raise ValueError("wiener needs noise_level (it reads the network's sigma estimate)")
    size = input_size if input_size else None
    inputs = keras.Input(shape=(size, size, 1 + 2 * context), name="noisy")
    centre = ChannelSlice(0, 1, name="centre")(inputs) if context else inputs
    x = PixelUnshuffle(unshuffle, name="unshuffle")(centre) if unshuffle > 1 else centre
    if noise_level:
        sigma_map = NoiseLevelMap(name="noise_level")(x)
        x = layers.Concatenate(name="with_noise_level")([x, sigma_map])
    if context:
        neighbours = ChannelSlice(1, 1 + 2 * context, name="neighbours")(inputs)
        if unshuffle > 1:
            neighbours = PixelUnshuffle(unshuffle, name="unshuffle_neighbours")(neighbours)
        x = layers.Concatenate(name="with_neighbours")([x, neighbours])
    skips = []
    filters = width
    for level in range(levels):
        x = _conv(x, filters, f"enc{level}_a")
        x = _conv(x, filters, f"enc{level}_b")
        skips.append(x)
        filters *= growth
        x = _conv(x, filters, f"down{level}", strides=2)
    x = _conv(x, filters, "mid_a")
    x = _conv(x, filters, "mid_b")
    for block in range(mid_blocks):
        y = _conv(x, filters, f"{MID_BLOCK_PREFIX}{block}_a")
        y = layers.Conv2D(filters, 3, padding="same", kernel_initializer="zeros", name=f"{MID_BLOCK_PREFIX}{block}_b")(y)
        x = layers.Add(name=f"{MID_BLOCK_PREFIX}{block}")([x, y])
    for level in reversed(range(levels)):
        filters //= growth
        x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same",
                                   kernel_initializer="he_normal", name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = _conv(x, filters, f"dec{level}_a")
        x = _conv(x, filters, f"dec{level}_b")
    x = layers.Conv2D(unshuffle * unshuffle, 3, padding="same", kernel_initializer="zeros",
                      name="noise_out")(x)
    noise = PixelShuffle(unshuffle, name="shuffle")(x) if unshuffle > 1 else x
    outputs = layers.Subtract(name="denoised")([centre, noise])
    if wiener:
        outputs = PilotWiener(wiener_block, wiener_stride, name="wiener")([centre, outputs, sigma_map])
    return keras.Model(inputs, outputs, name="resunet")


def grow(source: keras.Model, name: str, **options) -> keras.Model:
    """Architecture ``name`` with ``options``, starting from ``source``'s weights, layer by layer.

    Why: to add an input (the noise-level channel) to a trained network without retraining it:
    kernels that gained input channels keep their old weights and start at zero on the new
    ones, so the grown network computes exactly what ``source`` did until it is trained; new
    residual blocks (``mid_blocks``) keep their zero-started output and add nothing until trained.
    """
    model = build(name, **options)
    by_name = {layer.name: layer for layer in source.layers}
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if layer.name not in by_name and layer.name.startswith(MID_BLOCK_PREFIX):
            continue
        if layer.name not in by_name:
            raise ValueError(f"cannot grow {source.name!r} into {name}: it has no layer {layer.name!r}")
        old = by_name[layer.name].get_weights()
        new = []
        for w, o in zip(weights, old):
            if w.shape == o.shape:
                new.append(o)
            elif w.ndim == 4 and w.shape[:2] == o.shape[:2] and w.shape[3] == o.shape[3] and w.shape[2] > o.shape[2]:
                padded = np.zeros_like(w)
                padded[:, :, : o.shape[2], :] = o
                new.append(padded)
            else:
                raise ValueError(f"cannot grow layer {layer.name!r}: weights {o.shape} -> {w.shape}")
        layer.set_weights(new)
    return model


def build_tiny(input_size: int | None = None) -> keras.Model:
    """A few-thousand-parameter resunet for tests: same code path, seconds to train."""
    model = build_resunet(width=8, levels=1, unshuffle=2, input_size=input_size)
    return keras.Model(model.inputs[0], model.outputs[0], name="tiny")


_BUILDERS: dict[str, Callable[..., keras.Model]] = {
    DEFAULT_ARCH: build_resunet,
    SEED_ARCH: build_seed_autoencoder,
    "tiny": build_tiny,
}
ARCHITECTURES: tuple[str, ...] = tuple(_BUILDERS)


def build(name: str, **options) -> keras.Model:
    """Build architecture ``name`` with its options (unknown name or option -> ValueError)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(ARCHITECTURES)}")
    try:
        return _BUILDERS[name](**options)
    except TypeError as exc:
        raise ValueError(f"bad options for architecture {name!r}: {exc}") from None
