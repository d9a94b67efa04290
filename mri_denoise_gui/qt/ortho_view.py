"""Orthogonal views: axial / coronal / sagittal of one method side by side, crosshair-linked.

Clicking a voxel in one plane moves the other two planes through it; zooming one zooms the
others to the same scale around that voxel. The planes come from the
session's volumes (noisy, ground truth, the whole denoised volume) or, slice by slice, from the
comparison machinery: classical methods in the job runner (one job name per plane, latest wins),
models in the inference thread (one pending request per plane), all cached in `method_cache`.
A mixin of `MainWindow`; what it uses of the window is declared below.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QPointF
from PyQt6.QtWidgets import QHBoxLayout, QWidget

from mri_denoise_gui.core.orientation import AXIS_NAMES
from mri_denoise_gui.qt.comparison import MODEL_PREFIX
from mri_denoise_gui.qt.comparison_view import ComparisonView
from mri_denoise_gui.qt.slice_views import SlicePane
from mri_denoise_gui.viewer.comparison import NETWORK, classical_slice, method_label
from mri_denoise_gui.viewer.session import ViewerSession
from mri_denoise_gui.viewer.state import file_order_slice


class OrthoView(QWidget):
    """Three planes in a row (objectNames orthoAxialView, orthoCoronalView, orthoSagittalView)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("orthoView")
        self.panes: dict[str, SlicePane] = {}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        for axis in AXIS_NAMES:
            pane = SlicePane(axis.capitalize(), f"ortho{axis.capitalize()}View", self)
            self.panes[axis] = pane
            layout.addWidget(pane, 1)


class OrthoMixin:
    """View › Orthogonal views: one method in three planes through one voxel."""

    session: ViewerSession
    compare: ComparisonView
    method_cache: object

    def _init_ortho(self) -> None:
        self.ortho = OrthoView()
        self.ortho.hide()
        self.ortho_method = NETWORK
        self.ortho_voxel: tuple[int, int, int] | None = None
        self.crosshair_voxel: tuple[int, int, int] | None = None  # the last voxel pointed at
        for axis, pane in self.ortho.panes.items():
            pane.graphics.scene().sigMouseClicked.connect(lambda ev, a=axis: self._on_ortho_clicked(a, ev))
            pane.view_box.sigRangeChangedManually.connect(lambda *_, a=axis: self.share_ortho_zoom(a))
        self.compare.levelsChanged.connect(lambda lo, hi: [p.set_levels((lo, hi)) for p in self.ortho.panes.values()])
        self.extra_models.sliceDenoised.connect(lambda *_: self._render_ortho())
        self._ortho_asked: set[tuple] = set()  # model slices already asked for (results cross in flight)
        self.compare.layout().insertWidget(1, self.ortho, 1)  # beside the shared window / level control
        self.session.volume_changed.connect(self._forget_voxels)
        # another model or strength: its planes are asked for again (keys carry the strength)
        self.session.model_changed.connect(lambda *_: self._ortho_asked.clear())

    def _forget_voxels(self, *_):
        self.ortho_voxel = self.crosshair_voxel = None
        self._ortho_asked.clear()

    def show_ortho(self, on: bool) -> None:
        """Swap the comparison panes for the three planes (and back)."""
        self.compare._grid_host.setVisible(not on)
        self.ortho.setVisible(on)
        if on and self.session.data is not None:
            if self.ortho_voxel is None:
                self.ortho_voxel = self.crosshair_voxel or self._centre_voxel()
            self.set_ortho_voxel(self.ortho_voxel)

    def set_ortho_method(self, method: str) -> None:
        """"noisy", "truth", "network", a classical method or "model:<folder>"."""
        if method not in ("noisy", "truth"):
            self.check_method(method)
        self.ortho_method = method
        self._render_ortho()

    def _centre_voxel(self) -> tuple[int, int, int]:
        geom = self.session.data.geometry(self.session.axis)
        rows, cols = geom.image_shape
        return geom.voxel(self.session.index, rows // 2, cols // 2)

    def set_ortho_voxel(self, ijk) -> None:
        self.ortho_voxel = self.crosshair_voxel = tuple(int(v) for v in ijk)
        self._render_ortho()

    def click_ortho(self, axis: str, row: int, col: int) -> None:
        """A click on voxel (row, col) of the `axis` plane: the other planes move through it."""
        geom = self.session.data.geometry(axis)
        index = geom.position(self.ortho_voxel)[0]
        self.set_ortho_voxel(geom.voxel(index, row, col))

    def _on_ortho_clicked(self, axis: str, event) -> None:
        pane = self.ortho.panes[axis]
        if self.session.data is None or self.ortho_voxel is None or pane.image is None:
            return
        point = pane.view_box.mapSceneToView(QPointF(event.scenePos()))
        px = self.session.data.geometry(axis).pixel_size
        row, col = int(np.floor(point.y() / px[0])), int(np.floor(point.x() / px[1]))
        if 0 <= row < pane.image.shape[0] and 0 <= col < pane.image.shape[1]:
            self.click_ortho(axis, row, col)

    def share_ortho_zoom(self, source: str) -> None:
        """Zooming one plane (wheel or drag) zooms the other two to the same mm per pixel, centred on
        the crosshair voxel, so the three show the same neighbourhood at the same scale."""
        data = self.session.data
        if data is None or self.ortho_voxel is None:
            return
        (x0, x1), (y0, y1) = self.ortho.panes[source].view_box.viewRange()
        half_w, half_h = (x1 - x0) / 2, (y1 - y0) / 2
        for axis, pane in self.ortho.panes.items():
            if axis == source or pane.image is None:
                continue
            geom = data.geometry(axis)
            _, row, col = geom.position(self.ortho_voxel)
            cx, cy = (col + 0.5) * geom.pixel_size[1], (row + 0.5) * geom.pixel_size[0]
            # programmatic: emits no sigRangeChangedManually, so no echo back
            pane.view_box.setRange(xRange=(cx - half_w, cx + half_w), yRange=(cy - half_h, cy + half_h), padding=0)

    def _ortho_plane(self, axis: str, index: int) -> np.ndarray | None:
        data, method = self.session.data, self.ortho_method
        geom = data.geometry(axis)
        if method in ("noisy", "truth"):
            volume = data.noisy01 if method == "noisy" else data.truth01
            return None if volume is None else np.ascontiguousarray(geom.extract(volume, index))
        if method == NETWORK:
            if self.volume_is_denoised():
                return np.ascontiguousarray(geom.extract(data.denoised01, index))
            if self.session.model is None:
                return None
            method = MODEL_PREFIX + str(self.session.model.get("folder"))
        key = self.method_slice_key(method, axis, index)
        image = self.method_cache.get(key)
        if image is not None or data.noisy01 is None:
            return image
        noisy = np.ascontiguousarray(geom.extract(data.noisy01, index))
        if method.startswith(MODEL_PREFIX):
            if key in self._ortho_asked:
                return None
            self._ortho_asked.add(key)
            self.extra_models.submit(method[len(MODEL_PREFIX):], key, file_order_slice(data.noisy01, geom, index),
                                     slot=f"ortho {axis}", strength=key[4])
        else:
            self.tasks.run(f"ortho {axis}", lambda state, m=method, n=noisy: classical_slice(m, n),
                           lambda image, k=key: (self.method_cache.put(k, image), self._render_ortho()))
        return None

    def _render_ortho(self) -> None:
        data = self.session.data
        if data is None or self.ortho_voxel is None or not self.ortho.isVisible():
            return
        levels = self.compare.levels()
        for axis, pane in self.ortho.panes.items():
            geom = data.geometry(axis)
            index, row, col = geom.position(self.ortho_voxel)
            image = self._ortho_plane(axis, index)
            pane.set_image(image, levels, geom.pixel_size)
            pane.set_orientation_labels(geom.labels)
            pane.title.setText(f"{axis.capitalize()} {index + 1}/{geom.n_slices} · "
                               f"{self.ortho_method if self.ortho_method in ('noisy', 'truth') else method_label(self.ortho_method)}")
            pane.show_message(None if image is not None else "working…")
            pane.set_crosshair(row, col)
