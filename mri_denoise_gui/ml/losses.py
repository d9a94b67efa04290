"""Losses and metrics on [0, 1] images (data range 1.0), registered so saved models load anywhere.

All are top-level functions (never closures) registered under the package name.
"""

from __future__ import annotations

import keras
import tensorflow as tf

_PACKAGE = "mri_denoise_gui"


def _ssim_map_mean(y_true, y_pred):
    y_true = tf.cast(y_true, tf.float32)
    y_pred = tf.cast(y_pred, tf.float32)
    return tf.image.ssim(y_true, y_pred, max_val=1.0)


@keras.saving.register_keras_serializable(package=_PACKAGE)
def ssim_loss(y_true, y_pred):
    """The tutorial's loss: 1 - mean SSIM, per image."""
    return 1.0 - _ssim_map_mean(y_true, y_pred)


@keras.saving.register_keras_serializable(package=_PACKAGE)
def ssim_l1_loss(y_true, y_pred):
    """0.4 * (1 - SSIM) + 0.6 * L1 / 0.1. SSIM keeps structure but normalises errors by local
    contrast, so alone it tolerates damage at bright high-contrast edges (CSF on T2) and small
    intensity shifts; the L1 term, which dominates, keeps intensities and edges honest."""
    y_true = tf.cast(y_true, tf.float32)
    y_pred = tf.cast(y_pred, tf.float32)
    return _with_l1(1.0 - _ssim_map_mean(y_true, y_pred), y_true, y_pred)


def _with_l1(ssim_term, y_true, y_pred):
    """The SSIM + L1 mix both ``ssim_l1`` losses use: 0.4 * ssim_term + 0.6 * L1 / 0.1."""
    return 0.4 * ssim_term + 0.6 * l1_loss(y_true, y_pred) / 0.1


#: the SSIM window of ``tf.image.ssim`` (Gaussian, 11 px, sigma 1.5) and its constants at data range 1
_SSIM_SIZE, _SSIM_SIGMA, _SSIM_C1, _SSIM_C2 = 11, 1.5, 0.01 ** 2, 0.03 ** 2
#: a clean pixel above this (on [0, 1]) is tissue; windows holding none weigh this much
TISSUE_LEVEL, BACKGROUND_WEIGHT = 0.1, 0.05


def _ssim_map(y_true, y_pred):
    """The per-window SSIM map that ``tf.image.ssim`` averages (valid windows only, one channel)."""
    x = tf.linspace(-(_SSIM_SIZE - 1) / 2.0, (_SSIM_SIZE - 1) / 2.0, _SSIM_SIZE)
    g = tf.exp(-x * x / (2.0 * _SSIM_SIGMA ** 2))
    g = g / tf.reduce_sum(g)
    kernel = tf.reshape(g[:, None] * g[None, :], [_SSIM_SIZE, _SSIM_SIZE, 1, 1])

    def blur(img):
        return tf.nn.conv2d(img, kernel, strides=1, padding="VALID")

    mu_t, mu_p = blur(y_true), blur(y_pred)
    cross = 2.0 * mu_t * mu_p
    luminance = (cross + _SSIM_C1) / (mu_t * mu_t + mu_p * mu_p + _SSIM_C1)
    contrast = (2.0 * blur(y_true * y_pred) - cross + _SSIM_C2) / (
        blur(y_true * y_true + y_pred * y_pred) - (mu_t * mu_t + mu_p * mu_p) + _SSIM_C2)
    return luminance * contrast


def _grown_tissue_weights(y_true, level: float, size: int, padding: str, background: float):
    """1 where a ``size`` x ``size`` window holds a clean pixel above ``level``, ``background`` elsewhere."""
    tissue = tf.cast(y_true > level, tf.float32)
    touched = tf.nn.max_pool2d(tissue, size, strides=1, padding=padding)
    return background + (1.0 - background) * touched


def tissue_window_weights(y_true):
    """1 for every SSIM window of the clean target that holds a tissue pixel, BACKGROUND_WEIGHT
    for the rest: the clean target's foreground dilated by the window, at the SSIM map's size."""
    return _grown_tissue_weights(y_true, TISSUE_LEVEL, _SSIM_SIZE, "VALID", BACKGROUND_WEIGHT)


@keras.saving.register_keras_serializable(package=_PACKAGE)
def ssim_masked_loss(y_true, y_pred):
    """1 - SSIM averaged over the windows that hold tissue (the rest weigh 5 %), per image.

    Why: the tutorial's 1 - mean SSIM on slices that are ~70 % exactly-zero background scores a
    flat dark output (0.68 on the validation slab) far above the noisy input (0.15), because black
    wins every background window; the network collapses to dark tissue. Weighted by the clean
    target's tissue windows, the same SSIM is what the tissue scores measure and black loses."""
    y_true = tf.cast(y_true, tf.float32)
    y_pred = tf.cast(y_pred, tf.float32)
    ssim = _ssim_map(y_true, y_pred)
    weights = tissue_window_weights(y_true)
    mean = tf.reduce_sum(ssim * weights, axis=[1, 2, 3]) / tf.reduce_sum(weights, axis=[1, 2, 3])
    return 1.0 - mean


@keras.saving.register_keras_serializable(package=_PACKAGE)
def ssim_masked_l1_loss(y_true, y_pred):
    """0.4 * (1 - tissue-window SSIM) + 0.6 * L1 / 0.1, the ``ssim_l1`` mix with the tissue-window SSIM.

    Why: under the seed autoencoder's output Dropout, SSIM barely cares whether tissue is 20 % too
    dark (benchmarks/README.md, "the seed autoencoder darkens tissue"); L1 is the term that holds
    the brightness."""
    return _with_l1(ssim_masked_loss(y_true, y_pred), y_true, y_pred)


@keras.saving.register_keras_serializable(package=_PACKAGE)
def l1_loss(y_true, y_pred):
    """Mean absolute error per image."""
    return tf.reduce_mean(tf.abs(tf.cast(y_true, tf.float32) - tf.cast(y_pred, tf.float32)),
                          axis=[1, 2, 3])


#: l1_tissue: a clean pixel above this is tissue (synth_val's tissue level); the mask grows by
#: TISSUE_MARGIN px so tissue borders count as tissue; background pixels weigh L1_BACKGROUND_WEIGHT
L1_TISSUE_LEVEL, TISSUE_MARGIN, L1_BACKGROUND_WEIGHT = 0.05, 2, 0.2


@keras.saving.register_keras_serializable(package=_PACKAGE)
def l1_tissue_loss(y_true, y_pred):
    """L1 per image with background pixels weighted 0.2 against tissue (and its 2 px border).

    Why: in plain L1 the background's noise floor, a fifth to two thirds of a patch, is as large a
    share of the loss as the tissue, so the network spends its capacity on zeroing it; scores that
    matter (and BM3D's lead) are inside the tissue. Divided by the pixel count, not by the weights,
    so mostly-background patches also weigh less in the batch. Measured as a fine-tuning stage of
    the default: no better than plain L1 (benchmarks/README.md, "a tissue-weighted loss"); kept as
    a training choice."""
    y_true = tf.cast(y_true, tf.float32)
    weights = _grown_tissue_weights(y_true, L1_TISSUE_LEVEL, 2 * TISSUE_MARGIN + 1, "SAME", L1_BACKGROUND_WEIGHT)
    return tf.reduce_mean(weights * tf.abs(y_true - tf.cast(y_pred, tf.float32)), axis=[1, 2, 3])


@keras.saving.register_keras_serializable(package=_PACKAGE)
def ssim_metric(y_true, y_pred):
    """Mean SSIM with data range 1.0 (the prediction clipped to [0, 1], as the app shows it)."""
    return _ssim_map_mean(y_true, tf.clip_by_value(tf.cast(y_pred, tf.float32), 0.0, 1.0))


@keras.saving.register_keras_serializable(package=_PACKAGE)
def psnr_metric(y_true, y_pred):
    """PSNR in dB with data range 1.0 (prediction clipped to [0, 1])."""
    y_pred = tf.clip_by_value(tf.cast(y_pred, tf.float32), 0.0, 1.0)
    return tf.image.psnr(tf.cast(y_true, tf.float32), y_pred, max_val=1.0)


LOSSES = {"ssim": ssim_loss, "ssim_l1": ssim_l1_loss, "l1": l1_loss, "ssim_masked": ssim_masked_loss,
          "ssim_masked_l1": ssim_masked_l1_loss, "l1_tissue": l1_tissue_loss}


def get_loss(name: str):
    """Loss function by its config name."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
    return LOSSES[name]
