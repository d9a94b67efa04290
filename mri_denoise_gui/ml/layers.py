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
            return ops.ones_like(x[..., :1]) * (10.0 * self.gain * self.told)
        xs = x[:, :: self.step, :: self.step, :] if self.step > 1 else x
        hh = 0.5 * (xs[..., 0] - xs[..., 1] - xs[..., 2] + xs[..., 3])
        b = ops.shape(x)[0]
        values = ops.sort(ops.reshape(ops.abs(hh), (b, -1)), axis=-1)
        median = values[:, ops.shape(values)[1] // 2]
        sigma = (10.0 * self.gain) * median / 0.6745
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
