"""Slices of the main window: axis and slice, the three panes and the residual, cursor and keys.

Shows what the `ViewerSession` holds for the current slice and asks the inference worker for
the denoised one when the session's cache has none. A mixin of `MainWindow`; what it uses of
the window is declared below.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import QLabel

from mri_denoise_gui.core.orientation import AXIS_NAMES
from mri_denoise_gui.qt.controls import SliceControls
from mri_denoise_gui.qt.inference_worker import InferenceController
from mri_denoise_gui.qt.slice_views import CompareView
from mri_denoise_gui.viewer.session import ViewerSession
from mri_denoise_gui.viewer.state import display_from_file_slice, file_order_slice


class SliceDisplayMixin:
    """The current slice in every pane, kept in step with the session."""

    session: ViewerSession
    controller: InferenceController
    compare: CompareView
    panes: dict
    slice_controls: SliceControls
    cursor_label: QLabel
    _metrics_timer: QTimer
    current: dict
    applied_slice_requests: list
    _latest_slice_request: int
    _first_denoised: bool

    # ------------------------------------------------------------------------------------
    # Slices
    # ------------------------------------------------------------------------------------
    def _on_slice_changed(self, index: int) -> None:
        self.set_slice(index)

    def _on_slice_step(self, step: int) -> None:
        self.set_slice(self.session.index + step)

    def _on_axis_changed(self, axis: str) -> None:
        self.set_axis(axis)

    def set_axis(self, axis: str) -> None:
        if axis not in AXIS_NAMES:
            raise ValueError(f"unknown axis {axis!r}")
        self.slice_controls.set_axis(axis)
        if axis == self.session.axis and self.session.data is not None:
            return
        self.session.axis = axis
        if self.session.data is None:
            return
        geom = self.session.data.geometry(axis)
        voxel = getattr(self, "crosshair_voxel", None)  # keep the voxel under the crosshair (qt.ortho_view)
        if voxel is not None and not all(0 <= v < n for v, n in zip(voxel, geom.shape)):
            voxel = None  # pointed at in another volume
        self.session.index = geom.position(voxel)[0] if voxel is not None else geom.n_slices // 2
        self.slice_controls.set_range(geom.n_slices)
        self.slice_controls.set_value(self.session.index)
        self.refresh()
        self.compare.reset_view()
        if voxel is not None:
            _index, row, col = geom.position(voxel)
            for pane in self.panes.values():
                pane.set_crosshair(row, col)

    def set_slice(self, index: int) -> None:
        if self.session.data is None:
            return
        n = self.session.data.geometry(self.session.axis).n_slices
        index = int(min(max(index, 0), n - 1))
        if index == self.session.index and self.current.get("noisy") is not None:
            self.slice_controls.set_value(index)
            return
        self.session.index = index
        self.slice_controls.set_value(index)
        self.refresh()

    def slice_key(self) -> tuple:
        return (self.session.axis, self.session.index, self.session.noise_token, self.session.model_token)

    def refresh(self) -> None:
        """Show the current slice in every pane; ask the worker for the denoised one if needed."""
        data = self.session.data
        if data is None:
            return
        geom = data.geometry(self.session.axis)
        px = geom.pixel_size
        levels = self.compare.levels()
        labels = geom.labels
        truth = np.ascontiguousarray(geom.extract(data.truth01, self.session.index)) if data.truth01 is not None else None
        noisy = np.ascontiguousarray(geom.extract(data.noisy01, self.session.index)) if data.noisy01 is not None else None
        self.current = {"noisy": noisy, "denoised": None, "truth": truth}

        self.panes["truth"].set_image(truth, levels, px)
        self.panes["truth"].set_orientation_labels(labels if truth is not None else None)
        if truth is None:
            self.panes["truth"].show_message("No ground truth\n(real noisy scan)\n\nFile › Attach reference volume…")
        else:
            self.panes["truth"].show_message(None)
        self.panes["noisy"].set_image(noisy, levels, px)
        self.panes["noisy"].set_orientation_labels(labels)
        self.panes["noisy"].show_message(None if noisy is not None else "Adding noise…")

        denoised = None
        if noisy is not None:
            denoised = self._cached_denoised(geom)
        pane = self.panes["denoised"]
        pane.set_orientation_labels(labels)
        if denoised is not None:
            self._show_denoised(denoised, 0)
        else:
            self._show_residual()
            if noisy is not None and self.session.model is not None:
                self._latest_slice_request = self.controller.request_slice(
                    self.session.slice_key(), file_order_slice(data.noisy01, geom, self.session.index))
                pane.title.setText("Denoised · working…")
            elif self.session.model_loading:
                pane.set_image(None, levels, px)
                pane.show_message("Loading model…")
            elif self.session.model is None:
                pane.set_image(None, levels, px)
                pane.show_message("No model loaded\nModel › Load model…")
        self._metrics_timer.start()
        self._refresh_methods()  # comparison panes, error map, per-method scores (qt.comparison)

    def _cached_denoised(self, geom) -> np.ndarray | None:
        data = self.session.data
        if data.denoised01 is not None and data.denoised_tokens == (self.session.noise_token, self.session.model_token):
            return np.ascontiguousarray(geom.extract(data.denoised01, self.session.index))
        return self.session.cache.get(self.session.slice_key())

    def _show_denoised(self, image: np.ndarray, request_id: int) -> None:
        geom = self.session.data.geometry(self.session.axis)
        pane = self.panes["denoised"]
        pane.set_image(image, self.compare.levels(), geom.pixel_size)
        pane.show_message(None)
        name = self.session.model.get("name") if self.session.model else ""
        pane.title.setText(f"Denoised · {name}" if name else "Denoised")
        self.current["denoised"] = image
        self._show_residual()
        self._metrics_timer.start()
        self.denoisedSliceShown.emit(request_id)
        if request_id:
            self._refresh_methods()  # network panes and error maps follow the new slice
        if not self._first_denoised:
            self._first_denoised = True
            self.firstDenoisedShown.emit()

    def _show_residual(self) -> None:
        pane = self.panes["residual"]
        if not self.compare.residual_visible:
            return
        noisy, den = self.current.get("noisy"), self.current.get("denoised")
        geom = self.session.data.geometry(self.session.axis)
        pane.set_orientation_labels(geom.labels)
        if noisy is None or den is None:
            pane.set_image(None, (0, 1))
            pane.show_message("Waiting for the denoised slice…")
            return
        residual = noisy - den
        if not self.session.data.residual_level:
            self.session.data.residual_level = max(3.0 * float(np.std(residual)), 1e-3)
        level = self.session.data.residual_level
        pane.set_image(residual, (-level, level), geom.pixel_size)
        pane.show_message(None)

    def _on_residual_toggled(self, on: bool) -> None:
        self.compare.set_residual_visible(on)
        if self.session.data is not None:
            self._show_residual()

    def _on_reset_levels_triggered(self) -> None:
        if self.session.data is not None:
            self.compare.set_levels(*self.session.data.levels)

    # -- worker results -------------------------------------------------------------------
    def _on_slice_denoised(self, request_id: int, key: tuple, file_slice: np.ndarray) -> None:
        data = self.session.data
        if data is None or key[2] != self.session.noise_token or key[3] != self.session.model_token:
            return  # for another volume, noise or model: useless
        geom = data.geometry(key[0])
        if geom.n_slices <= key[1]:
            return
        image = display_from_file_slice(file_slice, geom, key[1])
        self.session.cache.put(key, image)
        if request_id != self._latest_slice_request or key != self.session.slice_key():
            return  # stale: a newer request supersedes it (it stays cached)
        self.applied_slice_requests.append(request_id)
        self._show_denoised(image, request_id)

    def _on_slice_failed(self, request_id: int, reason: str, details: str) -> None:
        if request_id != self._latest_slice_request:
            return
        self.panes["denoised"].title.setText("Denoised")
        self.panes["denoised"].show_message(f"Denoising failed:\n{reason}")
        if self.session.model is not None:
            self.show_error("Denoising failed", reason, details)

    # ------------------------------------------------------------------------------------
    # Cursor readout and keyboard
    # ------------------------------------------------------------------------------------
    def _on_cursor_moved(self, row: int, col: int) -> None:
        if self.session.data is None:
            return
        geom = self.session.data.geometry(self.session.axis)
        try:
            ijk = geom.voxel(self.session.index, row, col)
            xyz = geom.world(self.session.index, row, col)
        except IndexError:
            return
        self.crosshair_voxel = ijk
        parts = [f"voxel ({ijk[0]}, {ijk[1]}, {ijk[2]})", f"({xyz[0]:.1f}, {xyz[1]:.1f}, {xyz[2]:.1f}) mm",
                 f"file {float(self.session.data.volume.data[ijk]):.4g}"]
        for key, name in (("noisy", "noisy"), ("denoised", "denoised"), ("truth", "truth")):
            image = self.current.get(key)
            if image is not None and row < image.shape[0] and col < image.shape[1]:
                parts.append(f"{name} {float(image[row, col]):.3f}")
        self.cursor_label.setText("   ".join(parts))

    def _on_cursor_left(self) -> None:
        self.cursor_label.setText("")

    def keyPressEvent(self, event) -> None:
        if self.session.data is None:
            super().keyPressEvent(event)
            return
        n = self.session.data.geometry(self.session.axis).n_slices
        steps = {Qt.Key.Key_Up: 1, Qt.Key.Key_Down: -1, Qt.Key.Key_PageUp: 10, Qt.Key.Key_PageDown: -10}
        key = event.key()
        if key in steps:
            self.set_slice(self.session.index + steps[key])
        elif key == Qt.Key.Key_Home:
            self.set_slice(0)
        elif key == Qt.Key.Key_End:
            self.set_slice(n - 1)
        else:
            super().keyPressEvent(event)
            return
        event.accept()
