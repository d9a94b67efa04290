"""What the comparison panes compute: classical baselines of a slice, error maps, ROI and profile.

Plain functions of display-oriented 2D arrays (the window runs them in its job runner, one job
name per pane, so a slow NLM never blocks the GUI and the newest slice wins). Classical methods
are `core.baselines` run on one slice: the same function the CLI runs per slice, so the pane's
scores are exactly `core.metrics` of `core.baselines.<method>` on that slice.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from mri_denoise_gui.core import baselines
from mri_denoise_gui.core.noise import variance_from_sigma

CLASSICAL = OrderedDict([
    ("nlm", "NLM (estimated σ)"),
    ("wavelet", "Wavelet (BayesShrink)"),
    ("tv", "Total variation"),
    ("bm3d", "BM3D"),
])
NETWORK = "network"  # the window's loaded model (the Denoised pane's method)


def classical_methods() -> list[str]:
    """The classical baselines this install can run (BM3D only with the optional extra)."""
    return [m for m in CLASSICAL if m != "bm3d" or baselines.bm3d_available()]


SHORT = {"nlm": "NLM", "wavelet": "Wavelet", "tv": "TV", "bm3d": "BM3D"}


def method_label(method: str, short: bool = False) -> str:
    """A pane title ("NLM (estimated σ)"), or the metrics table's short name ("NLM")."""
    if method == NETWORK:
        return "Network"
    if method.startswith("model:"):
        name = method.split(":", 1)[1].rstrip("/").rsplit("/", 1)[-1]
        return name if short else f"Model {name}"
    return (SHORT if short else CLASSICAL).get(method, method)


def classical_slice(method: str, noisy2d: np.ndarray) -> np.ndarray:
    """One slice denoised by a classical baseline (2D in, float32 2D in [0, 1] out)."""
    if method not in CLASSICAL:
        raise ValueError(f"unknown classical method {method!r}; choose one of {', '.join(CLASSICAL)}")
    fn = baselines.BASELINES[method]
    return np.ascontiguousarray(fn(np.asarray(noisy2d, dtype=np.float32)), dtype=np.float32)


def classical_volume(method: str, noisy01: np.ndarray, axis: int, state=None) -> np.ndarray:
    """The whole volume, slice by slice along the file axis `axis` (for "Denoise volume")."""
    fn = baselines.BASELINES[method]
    out = np.empty_like(noisy01, dtype=np.float32)
    n = noisy01.shape[axis]
    for i in range(n):
        if state is not None and state.cancel.is_set():
            raise RuntimeError("cancelled")  # the runner drops a cancelled job's outcome anyway
        idx = [slice(None)] * noisy01.ndim
        idx[axis] = i
        out[tuple(idx)] = fn(np.asarray(noisy01[tuple(idx)], dtype=np.float32))
        if state is not None:
            state.set_progress(i + 1, n)
    return out


def error_map(denoised: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """|denoised - truth|, what the method got wrong (float32)."""
    return np.abs(np.asarray(denoised, np.float32) - np.asarray(truth, np.float32))


def roi_stats(pixels: np.ndarray) -> dict:
    """Mean, SD and SNR (mean / SD) of the pixels an ROI covers (NaN where undefined)."""
    values = np.asarray(pixels, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"mean": float("nan"), "sd": float("nan"), "snr": float("nan"), "n": 0}
    mean, sd = float(values.mean()), float(values.std())
    return {"mean": mean, "sd": sd, "snr": mean / sd if sd > 0 else float("inf"), "n": int(values.size)}


def line_profile(image: np.ndarray, start: tuple[float, float], end: tuple[float, float]) -> np.ndarray:
    """Intensities along a line from `start` to `end` (row, col), one sample per pixel of length."""
    (r0, c0), (r1, c1) = start, end
    n = int(round(float(np.hypot(r1 - r0, c1 - c0)))) + 1
    rows = np.clip(np.rint(np.linspace(r0, r1, n)).astype(int), 0, image.shape[0] - 1)
    cols = np.clip(np.rint(np.linspace(c0, c1, n)).astype(int), 0, image.shape[1] - 1)
    return np.asarray(image, dtype=np.float32)[rows, cols]


def format_roi(name: str, stats: dict) -> str:
    return f"{name}: mean {stats['mean']:.4f}  SD {stats['sd']:.4f}  SNR {stats['snr']:.2f}"


def parse_noise_level(text: str) -> float:
    """A typed noise level as a variance: "σ 0.05" / "sigma=0.05", "5%" (σ as % of range), "var 0.0025".

    A bare number is a variance (the spin box's meaning). Raises ValueError with a one-line reason.
    """
    raw = text.strip().lower().replace(" ", "").replace("=", "")
    try:
        if raw.endswith("%"):
            return variance_from_sigma(float(raw[:-1]) / 100.0)
        for prefix in ("σ", "sigma", "sd"):
            if raw.startswith(prefix):
                return variance_from_sigma(float(raw[len(prefix):]))
        for prefix in ("variance", "var"):
            if raw.startswith(prefix):
                return float(raw[len(prefix):])
        return float(raw)
    except ValueError:
        raise ValueError(f"cannot read noise level {text!r}: type σ 0.05, 5% or var 0.0025") from None


def roi_mask(shape: tuple[int, int], pixel_size, kind: str, pos, size) -> np.ndarray:
    """Pixels whose centres lie in a rectangle / ellipse given in view millimetres (x = col, y = row).

    `pos` is the ROI's corner (x, y) and `size` its (width, height), as pyqtgraph's ROI reports them
    when unrotated; the image's pixel (row, col) has its centre at ((col + .5) * px_col, (row + .5) * px_row).
    """
    py, px = float(pixel_size[0]), float(pixel_size[1])
    ys = (np.arange(shape[0]) + 0.5) * py
    xs = (np.arange(shape[1]) + 0.5) * px
    x0, y0 = float(pos[0]), float(pos[1])
    w, h = float(size[0]), float(size[1])
    if kind == "rect":
        return ((ys >= y0) & (ys < y0 + h))[:, None] & ((xs >= x0) & (xs < x0 + w))[None, :]
    if kind == "ellipse":
        cy, cx = y0 + h / 2, x0 + w / 2
        return (((ys - cy) / max(h / 2, 1e-9)) ** 2)[:, None] + (((xs - cx) / max(w / 2, 1e-9)) ** 2)[None, :] <= 1.0
    raise ValueError(f"unknown ROI kind {kind!r}")
