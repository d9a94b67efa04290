"""One viewer session: what the window shows, and the one place that says what a change invalidates.

Tokens (`noise_token`, `model_token`) name the noisy volume and the model a denoised slice
was made with, so a result computed for an older state is never shown. Every change that
makes derived results stale goes through `_invalidate`; views subscribe to the events.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from psygnal import Signal

from mri_denoise_gui.core.normalize import Normalizer
from mri_denoise_gui.viewer.state import MODE_NOISY, NoiseSettings, SliceCache, ViewerData


class ViewerSession:
    """The open volume, noise settings, model, slice caches, metrics and export state."""

    volume_changed = Signal(object)  # the new ViewerData (or None)
    noise_changed = Signal(object)  # the NoiseSettings the noisy volume on screen was made with
    model_changed = Signal(object)  # the model info dict (or None)
    reference_changed = Signal(object)  # the attached reference Volume
    denoised_changed = Signal()  # the whole denoised volume arrived or was dropped
    volume_metrics_changed = Signal(object)  # whole-volume metrics dict, or None when stale

    def __init__(self, cache_bytes: int = 256 * 2**20):
        self.data: ViewerData | None = None
        self.axis = "axial"
        self.index = 0
        self.noise = NoiseSettings()
        self.noise_token = 0
        self.generation = 0  # bumped by every invalidation: a score started before one is stale
        self.model: dict | None = None
        self.model_token = 0
        self.model_loading = False
        self.cache = SliceCache(cache_bytes)  # denoised display slices, by slice_key()
        self.noisy_scores: dict[tuple, dict] = {}  # slice scores of the noisy image, by noisy_key()
        self.denoised_axis: int | None = None  # file axis the whole volume was denoised along
        self.pending_export: tuple[str, Path] | None = None  # exported once the whole volume is denoised

    # -- keys -------------------------------------------------------------------------------
    def slice_key(self) -> tuple:
        return (self.axis, self.index, self.noise_token, self.model_token)

    def noisy_key(self, use_mask: bool) -> tuple:
        return (self.axis, self.index, self.noise_token, use_mask)

    def tokens(self) -> tuple[int, int]:
        return (self.noise_token, self.model_token)

    def volume_is_denoised(self) -> bool:
        d = self.data
        return d is not None and d.denoised01 is not None and d.denoised_tokens == self.tokens()

    # -- changes ----------------------------------------------------------------------------
    def _invalidate(self, noisy: bool = False, model: bool = False, truth: bool = False) -> None:
        """Drop what a new noisy volume, model or ground truth makes stale: the one place that does."""
        self.generation += 1
        if noisy:
            self.noise_token += 1
        if model:
            self.model_token += 1
        if noisy or model:
            self.cache.clear()
        if noisy or truth:
            self.noisy_scores.clear()
        data = self.data
        if data is not None:
            if noisy or model:
                data.denoised01 = None
                data.denoised_tokens = None
                self.denoised_changed.emit()
            if truth:
                data.mask = None
            data.volume_metrics = None
        self.volume_metrics_changed.emit(None)

    def set_volume(self, data: ViewerData | None) -> None:
        self.data = data
        self.pending_export = None
        self._invalidate(noisy=True)
        self.volume_changed.emit(data)

    def set_noisy(self, noisy01: np.ndarray, settings: NoiseSettings) -> None:
        """The noisy volume made from the ground truth with `settings` (clean mode)."""
        self.data.noisy01 = noisy01
        self.noise = settings
        self._invalidate(noisy=True)
        self.noise_changed.emit(settings)

    def set_model(self, info: dict | None) -> None:
        """A newly loaded model (None: the model was dropped)."""
        self.model_loading = False
        self.model = info
        self._invalidate(model=True)
        self.model_changed.emit(info)

    def update_model_info(self, info: dict) -> None:
        """Same model, same results, new backend (TensorFlow took over from LiteRT): nothing stale."""
        self.model = info
        self.model_changed.emit(info)

    def attach_reference(self, reference) -> None:
        """A clean reference on the noisy scan's grid: new ground truth, so every score is stale."""
        data = self.data
        if data is None or data.mode != MODE_NOISY:
            raise ValueError("open a real noisy scan first")
        if reference.shape != data.volume.shape:
            raise ValueError(f"the reference is {reference.shape}, the scan is {data.volume.shape}: "
                             "they must share a grid")
        data.reference = reference
        data.truth01 = Normalizer().fit(reference.data).forward(reference.data)
        self._invalidate(truth=True)
        self.reference_changed.emit(reference)

    def set_denoised_volume(self, volume01: np.ndarray, tokens: tuple, axis: int | None) -> bool:
        """The whole-volume result, if it is still for this noisy volume and model (else dropped)."""
        if self.data is None or tokens != self.tokens():
            return False
        self.data.denoised01 = volume01
        self.data.denoised_tokens = tokens
        self.denoised_axis = axis
        self.data.volume_metrics = None
        self.denoised_changed.emit()
        return True

    def set_volume_metrics(self, result: dict, generation: int) -> bool:
        """Whole-volume scores begun at `generation`: kept only if nothing was invalidated since."""
        if generation != self.generation or not self.volume_is_denoised():
            return False
        self.data.volume_metrics = result
        self.volume_metrics_changed.emit(result)
        return True
