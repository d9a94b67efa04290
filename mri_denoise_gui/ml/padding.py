"""Padding slices to what a network accepts and cropping its output back: shared by the TensorFlow
and the LiteRT paths, so this module imports neither (numpy only)."""

from __future__ import annotations

import numpy as np


def pad_slices(slices: np.ndarray, fixed_size: tuple[int, int] | None, stride: int) -> np.ndarray:
    """Pad a stack (N, H, W) at the bottom / right to ``fixed_size`` or to a multiple of ``stride``.

    Reflection where the slice is large enough, edge replication otherwise (tiny slices).
    """
    n, h, w = slices.shape
    if fixed_size:
        th, tw = fixed_size
        ph, pw = max(th - h, 0), max(tw - w, 0)
    else:
        ph, pw = (-h) % stride, (-w) % stride
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "edge"
        slices = np.pad(slices, ((0, 0), (0, ph), (0, pw)), mode=mode)
    return slices


def crop_clip(out: np.ndarray, slices: np.ndarray) -> np.ndarray:
    """``out`` cropped to ``slices``' (N, H, W) and clipped to [0, max(1, input max)], float32."""
    h, w = slices.shape[1:]
    top = max(1.0, float(slices.max()))
    return np.clip(out[:, :h, :w], 0.0, top).astype(np.float32)
