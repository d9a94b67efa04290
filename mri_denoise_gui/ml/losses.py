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
    l1 = tf.reduce_mean(tf.abs(y_true - y_pred), axis=[1, 2, 3])
    return 0.4 * (1.0 - _ssim_map_mean(y_true, y_pred)) + 0.6 * l1 / 0.1


@keras.saving.register_keras_serializable(package=_PACKAGE)
def l1_loss(y_true, y_pred):
    """Mean absolute error per image."""
    return tf.reduce_mean(tf.abs(tf.cast(y_true, tf.float32) - tf.cast(y_pred, tf.float32)),
                          axis=[1, 2, 3])


@keras.saving.register_keras_serializable(package=_PACKAGE)
def ssim_metric(y_true, y_pred):
    """Mean SSIM with data range 1.0 (the prediction clipped to [0, 1], as the app shows it)."""
    return _ssim_map_mean(y_true, tf.clip_by_value(tf.cast(y_pred, tf.float32), 0.0, 1.0))


@keras.saving.register_keras_serializable(package=_PACKAGE)
def psnr_metric(y_true, y_pred):
    """PSNR in dB with data range 1.0 (prediction clipped to [0, 1])."""
    y_pred = tf.clip_by_value(tf.cast(y_pred, tf.float32), 0.0, 1.0)
    return tf.image.psnr(tf.cast(y_true, tf.float32), y_pred, max_val=1.0)


LOSSES = {"ssim": ssim_loss, "ssim_l1": ssim_l1_loss, "l1": l1_loss}


def get_loss(name: str):
    """Loss function by its config name."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
    return LOSSES[name]
