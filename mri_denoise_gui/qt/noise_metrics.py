"""Noise and metrics of the main window: make the noisy volume, score the slice and the volume.

The numbers come from `viewer.compute` run by the window's job runner; results land in the
`ViewerSession`, whose events update the panels. A mixin of `MainWindow`; what it uses of the
window is declared below.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PyQt6.QtCore import QTimer

from mri_denoise_gui.core.noise import sigma_from_variance
from mri_denoise_gui.qt.controls import MetricsPanel, NoiseControls
from mri_denoise_gui.qt.inference_worker import describe_error
from mri_denoise_gui.qt.messages import reported
from mri_denoise_gui.qt.tasks import JobRunner
from mri_denoise_gui.viewer.compute import make_noisy_volume, score_slice, score_volume
from mri_denoise_gui.viewer.session import ViewerSession
from mri_denoise_gui.viewer.state import MODE_CLEAN, NoiseSettings, ViewerData

SYNC_NOISE_VOXELS = 4 * 2**20  # above this, noise is generated in a background thread


class NoiseMetricsMixin:
    """Noise settings -> noisy volume; slice and whole-volume SSIM / PSNR."""

    session: ViewerSession
    tasks: JobRunner
    noise_controls: NoiseControls
    metrics_panel: MetricsPanel
    panes: dict
    current: dict
    slice_metrics: dict
    update_noref_slice: Callable[[bool], None]  # NoRefMixin: the figures when there is no ground truth
    _volume_job: dict | None
    _noise_timer: QTimer
    _metrics_timer: QTimer
    _closing: bool

    # ------------------------------------------------------------------------------------
    # Noise
    # ------------------------------------------------------------------------------------
    def _on_noise_settings_changed(self, settings: NoiseSettings) -> None:
        dirty = settings != self.session.noise
        self.noise_controls.set_dirty(dirty and not self.noise_controls.auto_apply())
        if dirty and self.noise_controls.auto_apply() and self.session.data is not None:
            self._noise_timer.start()

    @reported("Could not change the noise")
    def set_noise(self, kind: str | None = None, variance: float | None = None, seed: int | None = None,
                  apply: bool = True) -> None:
        """Change the noise from code (command line, tests); the widgets follow."""
        cur = self.noise_controls.settings()
        asked = NoiseSettings(kind if kind is not None else cur.kind,
                              variance if variance is not None else cur.variance,
                              seed if seed is not None else cur.seed)
        new = asked.validated()
        if new != asked:
            self.statusBar().showMessage(f"Noise {asked.kind}, variance {asked.variance:g}, seed {asked.seed} is out of "
                                         f"range: using {new.kind}, variance {new.variance:g}, seed {new.seed}", 15_000)
        self.noise_controls.set_settings(new)
        if apply and self.session.data is not None:
            self.apply_noise(new)

    @reported("Could not add noise", None)
    def apply_noise(self, settings: NoiseSettings | None = None) -> None:
        """Regenerate the noisy volume from the ground truth (in a thread for big volumes)."""
        self._noise_timer.stop()
        data = self.session.data
        if data is None or data.mode != MODE_CLEAN or data.truth01 is None:
            return
        settings = (settings or self.noise_controls.settings()).validated()
        truth = data.truth01
        self.tasks.cancel("noise")  # newer settings win over a noisy volume still being made
        if truth.size <= SYNC_NOISE_VOXELS:
            try:
                noisy = make_noisy_volume(truth, settings)
            except Exception as exc:
                self.show_error("Could not add noise", *describe_error(exc))
                return
            self._on_noise_ready(data, settings, noisy)
        else:
            self.statusBar().showMessage("Adding noise…")
            self.panes["noisy"].title.setText("Noisy · updating…")
            self.tasks.run("noise", lambda state: make_noisy_volume(truth, settings),
                           lambda noisy: self._on_noise_ready(data, settings, noisy),
                           lambda r, d: self.show_error("Could not add noise", r, d))

    def _on_noise_ready(self, data: ViewerData, settings: NoiseSettings, noisy: np.ndarray) -> None:
        if data is not self.session.data or self._closing:
            return  # made for another volume
        if self._volume_job is not None:
            self.cancel_volume()
        self.session.set_noisy(noisy, settings)
        self.panes["noisy"].title.setText(
            f"Noisy · {settings.kind}, σ {sigma_from_variance(settings.variance):.3f}")
        self.noise_controls.set_dirty(False)
        self._update_residual_level()
        self._update_actions()
        self.statusBar().showMessage(self._with_warnings(
            f"Noise: {settings.kind}, variance {settings.variance:g} (σ {sigma_from_variance(settings.variance):.3f}),"
            f" seed {settings.seed}"), 15_000 if data.volume.warnings else 5000)
        self.refresh()
        self.noiseApplied.emit()

    def _update_residual_level(self) -> None:
        if self.session.data is None:
            return
        if self.session.data.mode == MODE_CLEAN:
            self.session.data.residual_level = max(3.0 * sigma_from_variance(self.noise_controls.settings().variance), 0.02)
        else:
            self.session.data.residual_level = 0.0  # measured on the first residual shown

    # ------------------------------------------------------------------------------------
    # Metrics
    # ------------------------------------------------------------------------------------
    def _on_mask_changed(self, on: bool) -> None:
        self.update_slice_metrics()
        if self.session.data is not None and self.session.data.denoised01 is not None:
            self._compute_volume_metrics()

    def _slice_metrics_key(self) -> tuple:
        """What a slice score was computed for; the session's generation covers volume, noise, model, truth."""
        return (self.session.axis, self.session.index, self.session.generation,
                self.metrics_panel.mask_check.isChecked(), self.current.get("denoised") is not None)

    def _update_slice_metrics(self) -> None:
        self.update_slice_metrics()

    def update_slice_metrics(self, wait: bool = False) -> None:
        """SSIM / PSNR of this slice vs the ground truth, computed off the GUI thread.

        Scrubbing never waits for them: they run 40 ms after the slice settles, stale results
        are dropped, and the noisy scores are cached per slice. `wait=True` computes in place.
        """
        self._metrics_timer.stop()
        data = self.session.data
        truth, noisy, den = (self.current.get(k) for k in ("truth", "noisy", "denoised"))
        if data is None or truth is None or noisy is None:
            self.slice_metrics = {"noisy": None, "denoised": None}
            self.metrics_panel.set_slice_metrics(None, None)
            self.update_noref_slice(wait)  # no ground truth: the reference-free figures instead
            return
        key = self._slice_metrics_key()
        use_mask = key[3]
        geom, index = data.geometry(self.session.axis), self.session.index
        noisy_key = self.session.noisy_key(use_mask)
        cached_noisy = self.session.noisy_scores.get(noisy_key)

        def compute(state=None):
            mask = None
            if use_mask:
                full = data.foreground()
                mask = None if full is None else np.ascontiguousarray(geom.extract(full, index))
            return score_slice(truth, noisy, den, mask, cached_noisy)

        def done(result):
            if key != self._slice_metrics_key():
                return  # the slice, noise, model or mask changed meanwhile
            noisy_m, den_m, masked = result["noisy"], result["denoised"], result["mask"]
            self.session.noisy_scores[noisy_key] = noisy_m
            self.slice_metrics = {"noisy": noisy_m, "denoised": den_m}
            self.metrics_panel.set_slice_metrics(noisy_m, den_m)
            self.metrics_panel.scope_label.setText(
                f"Slice {index} ({geom.axis_name})" + (" · inside mask" if masked else ""))

        if wait:
            self.tasks.cancel("slice metrics")
            done(compute())
        else:
            self.tasks.run("slice metrics", compute, done,
                           lambda r, d: self.statusBar().showMessage(f"Metrics failed: {r}", 8000))

    def _compute_volume_metrics(self) -> None:
        data = self.session.data
        if data is None or data.truth01 is None or data.denoised01 is None or data.noisy01 is None:
            return
        use_mask, generation = self.metrics_panel.mask_check.isChecked(), self.session.generation
        self.metrics_panel.set_volume_text("Whole volume: computing…")
        self.tasks.run("volume metrics", lambda state: score_volume(data, use_mask),
                       lambda result: self.session.set_volume_metrics(result, generation),
                       lambda r, d: self.show_error("Could not compute volume metrics", r, d))

    def _with_warnings(self, text: str) -> str:
        warnings = self.session.data.volume.warnings if self.session.data is not None else []
        return text + "".join(f"; warning: {w}" for w in warnings)
