"""Custom layers, registered so that saved models load with ``safe_mode=True`` (no Lambda)."""

from __future__ import annotations

import keras
from keras import ops


class _PixelRearrange(keras.layers.Layer):
    """Shared by the two pixel shuffles: one integer ``factor`` and its config."""

    def __init__(self, factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="mri_denoise_gui")
class PixelUnshuffle(_PixelRearrange):
    """Space-to-depth: (H, W, C) -> (H/f, W/f, C*f*f). Lets a net work at lower resolution
    without throwing information away (FFDNet), which is where most of its speed comes from."""

    def call(self, x):
        f = self.factor
        shape = ops.shape(x)
        b, h, w, c = shape[0], shape[1], shape[2], x.shape[-1]
        x = ops.reshape(x, (b, h // f, f, w // f, f, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (b, h // f, w // f, f * f * c))

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        f = self.factor
        return (b, None if h is None else h // f, None if w is None else w // f, c * f * f)


@keras.saving.register_keras_serializable(package="mri_denoise_gui")
class PixelShuffle(_PixelRearrange):
    """Depth-to-space, the exact inverse of PixelUnshuffle."""

    def call(self, x):
        f = self.factor
        shape = ops.shape(x)
        b, h, w, c = shape[0], shape[1], shape[2], x.shape[-1]
        co = c // (f * f)
        x = ops.reshape(x, (b, h, w, f, f, co))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (b, h * f, w * f, co))

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        f = self.factor
        return (b, None if h is None else h * f, None if w is None else w * f, c // (f * f))


@keras.saving.register_keras_serializable(package="mri_denoise_gui")
class ChannelSlice(keras.layers.Layer):
    """Channels ``start``..``stop`` of the input: a stack of neighbouring slices (``context``)
    split into the slice to denoise and its neighbours, without a Lambda (safe loading)."""

    def __init__(self, start: int = 0, stop: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)

    def call(self, x):
        return x[..., self.start:self.stop]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], self.stop - self.start)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


#: NoiseLevelMap outputs this x sigma (sigma of the [0, 1] image), so the channel sits near 0.1-1
NOISE_LEVEL_SCALE = 10.0
#: PilotWiener's DCT block and its step in pixels, as the shipped default uses them
WIENER_BLOCK, WIENER_STRIDE = 4, 2


@keras.saving.register_keras_serializable(package="mri_denoise_gui")
class NoiseLevelMap(keras.layers.Layer):
    """The image's own noise level as one constant channel, from pixel-unshuffled (factor 2) input.

    Why: a blind network must infer sigma from what its field of view shows, and then hesitates to
    flatten a flat region; non-local means is handed sigma estimated from the whole slice. This is
    the same estimate (Donoho's: median |HH| / 0.6745 of the finest Haar diagonal detail, which the
    four unshuffled channels give directly), on every ``step``-th position to keep it cheap, scaled
    by 10 to about 0.1-1. The model stays blind for the user: nothing extra goes in.

    ``gain`` scales what the network is told: the denoising strength (``ml/strength.py``), set on an
    inference copy, never in a saved model (1, the trained value, is not written to the config).
    ``told`` replaces the estimate by a known sigma (a benchmark's oracle, as BM3D is told it).
    """

    def __init__(self, step: int = 4, gain: float = 1.0, told: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.step = int(step)
        self.gain = float(gain)
        self.told = None if told is None else float(told)

    def call(self, x):
        if self.told is not None:
            return ops.ones_like(x[..., :1]) * (NOISE_LEVEL_SCALE * self.gain * self.told)
        xs = x[:, :: self.step, :: self.step, :] if self.step > 1 else x
        hh = 0.5 * (xs[..., 0] - xs[..., 1] - xs[..., 2] + xs[..., 3])
        b = ops.shape(x)[0]
        values = ops.sort(ops.reshape(ops.abs(hh), (b, -1)), axis=-1)
        median = values[:, ops.shape(values)[1] // 2]
        sigma = (NOISE_LEVEL_SCALE * self.gain) * median / 0.6745
        return ops.ones_like(x[..., :1]) * ops.reshape(sigma, (b, 1, 1, 1))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], 1)

    def get_config(self):
        config = {**super().get_config(), "step": self.step}
        if self.gain != 1.0:
            config["gain"] = self.gain
        if self.told is not None:
            config["told"] = self.told
        return config


def dct_basis(block: int):
    """The ``block`` x ``block`` orthonormal 2-D DCT-II basis, (pixel row, pixel column, coefficient)."""
    import numpy as np

    k = np.arange(block)[:, None]
    i = np.arange(block)[None, :]
    d = np.cos(np.pi * (2 * i + 1) * k / (2 * block)) * np.sqrt(2.0 / block)
    d[0] /= np.sqrt(2.0)
    return np.einsum("ui,vj->ijuv", d, d).reshape(block, block, block * block).astype("float32")


def _cell_basis(block: int, stride: int):
    """dct_basis with its pixels in the order a block gathers them from ``stride`` x ``stride`` cells:
    (cell row, cell column, row in the cell, column in the cell) -> coefficient."""
    q = block // stride
    basis = dct_basis(block).reshape(q, stride, q, stride, block * block).transpose(0, 2, 1, 3, 4)
    return basis.reshape(block * block, block * block)


@keras.saving.register_keras_serializable(package="mri_denoise_gui")
class PilotWiener(keras.layers.Layer):
    """Refine a denoised image by empirical Wiener filtering of the noisy one, with the denoised
    image as the pilot (BM3D's second step, without its block matching).

    Why: a small network smooths away fine detail it cannot tell from noise. In overlapping
    ``block`` x ``block`` DCT blocks (every ``stride`` pixels) each coefficient of the noisy image is
    kept in the share P^2 / (P^2 + sigma^2) that the pilot's coefficient P says is signal, so detail
    the pilot only attenuated comes back from the noisy data, and what it removed stays removed;
    blocks are averaged with BM3D's weights 1 / sum(shrinkage^2). Inputs: [noisy, pilot, level], the
    last a NoiseLevelMap output (10 x sigma, constant per image), so strength and told-sigma copies
    steer it as they steer the network. No weights. Blocks are gathered from, and overlap-added
    back onto, ``stride`` x ``stride`` cells by slicing and padding (a convolution and a transposed
    convolution do the same arithmetic, several times slower on a CPU). Default 4 px blocks every
    2 px: on development data within 0.1 dB of 8 px blocks and fast enough for the 2x speed bar at
    batch 1, which 8 px blocks every 4 px missed (benchmarks/README.md).
    """

    def __init__(self, block: int = WIENER_BLOCK, stride: int = WIENER_STRIDE, **kwargs):
        super().__init__(**kwargs)
        self.block = int(block)
        self.stride = int(stride)
        if self.block % self.stride:
            raise ValueError("PilotWiener: block must be a multiple of stride")
        self._compiled = None  # the XLA-compiled _refine, made at the first call on TensorFlow

    def call(self, inputs):
        if keras.backend.backend() == "tensorflow":
            if self._compiled is None:
                import tensorflow as tf

                self._compiled = tf.function(self._refine, jit_compile=True, reduce_retracing=True)
            return self._compiled(*inputs)
        return self._refine(*inputs)

    def _refine(self, noisy, pilot, level):
        b, s = self.block, self.stride
        q, s2 = b // s, s * s
        basis = ops.convert_to_tensor(_cell_basis(b, s), dtype=noisy.dtype)
        n, h, w = ops.shape(noisy)[0], ops.shape(noisy)[1], ops.shape(noisy)[2]
        pad = b - s  # every pixel then lies in q^2 blocks, at the border too
        both = ops.pad(ops.concatenate([noisy, pilot], axis=0),
                       [[0, 0], [pad, pad + (-h) % s], [pad, pad + (-w) % s], [0, 0]], mode="symmetric")
        hp, wp = ops.shape(both)[1], ops.shape(both)[2]
        ch, cw = hp // s, wp // s
        cells = ops.reshape(ops.transpose(ops.reshape(both, (2 * n, ch, s, cw, s)), (0, 1, 3, 2, 4)), (2 * n, ch, cw, s2))
        nh, nw = ch - q + 1, cw - q + 1
        blocks = ops.concatenate([cells[:, i:i + nh, j:j + nw, :] for i in range(q) for j in range(q)], axis=-1)
        coeffs = ops.matmul(blocks, basis)
        y, p = coeffs[:n], coeffs[n:]
        p2 = ops.square(p)
        shrink = p2 / (p2 + ops.square(level[:, :1, :1, :] / NOISE_LEVEL_SCALE) + 1e-12)
        weight = 1.0 / (ops.sum(ops.square(shrink), axis=-1, keepdims=True) + 1e-3)
        pixels = ops.matmul(shrink * y * weight, ops.transpose(basis))
        acc = 0.0
        for i in range(q):
            for j in range(q):
                k = (i * q + j) * s2
                part = ops.concatenate([pixels[..., k:k + s2], weight], axis=-1)
                acc = acc + ops.pad(part, [[0, 0], [i, q - 1 - i], [j, q - 1 - j], [0, 0]])
        cells = acc[..., :s2] / acc[..., s2:]
        out = ops.reshape(ops.transpose(ops.reshape(cells, (n, ch, cw, s, s)), (0, 1, 3, 2, 4)), (n, hp, wp, 1))
        return out[:, pad:pad + h, pad:pad + w, :]

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "block": self.block, "stride": self.stride}
