"""The image panes: Noisy / Denoised / Ground truth (/ Residual), linked, one window/level.

Why one shared `HistogramLUTItem` with no image attached: pyqtgraph would recompute the
histogram of every new slice; we compute it once per volume and only push levels and the
lookup table to the panes. Coordinates are millimetres (the image rect is scaled by the pixel
size), so the aspect lock shows true anatomy even with anisotropic voxels.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QFont, QPen
from PyQt6.QtWidgets import (
    QFrame,
    QGraphicsSimpleTextItem,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

NAV_KEYS = {
    Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown,
    Qt.Key.Key_Home, Qt.Key.Key_End,
}

PANE_BACKGROUND = "#000000"
LABEL_COLOR = "#f0c040"
MESSAGE_STYLE = "color: #b8b8b8; font-size: 13px; background: transparent;"
TITLE_STYLE = (
    "QLabel { color: #e8e8e8; background: #1d2024; font-weight: bold; font-size: 13px;"
    " padding: 3px 6px; border-bottom: 1px solid #33373d; }"
)


class SliceViewBox(pg.ViewBox):
    """Wheel moves through slices (as in FSLeyes / ITK-SNAP); Ctrl+wheel zooms."""

    sigSliceStep = pyqtSignal(int)

    def wheelEvent(self, ev, axis=None):
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)
            return
        delta = ev.delta() if hasattr(ev, "delta") else ev.angleDelta().y()
        if delta:
            self.sigSliceStep.emit(1 if delta > 0 else -1)
        ev.accept()


class _ImageGraphicsView(pg.GraphicsView):
    """Lets navigation keys reach the main window instead of scrolling the scene."""

    def keyPressEvent(self, ev):
        if ev.key() in NAV_KEYS:
            ev.ignore()
            return
        super().keyPressEvent(ev)


class SlicePane(QFrame):
    """One titled image pane with orientation letters on its edges and a centred message."""

    cursorMoved = pyqtSignal(int, int)  # row, col of the displayed slice
    cursorLeft = pyqtSignal()

    def __init__(self, title: str, object_name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 160)
        self.title = QLabel(title)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setStyleSheet(TITLE_STYLE)
        self.title.setObjectName(object_name + "Title")

        self.graphics = _ImageGraphicsView(background=PANE_BACKGROUND)
        self.graphics.setAccessibleName(title)
        self.view_box = SliceViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view_box.setDefaultPadding(0.02)
        self.graphics.setCentralItem(self.view_box)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view_box.addItem(self.image_item)
        self.image: np.ndarray | None = None  # what is on screen now (display orientation)
        pen = pg.mkPen(240, 192, 64, 150, width=1)
        self._cross = [pg.InfiniteLine(angle=90, movable=False, pen=pen),
                       pg.InfiniteLine(angle=0, movable=False, pen=pen)]
        for line in self._cross:
            line.setZValue(10)
            line.hide()
            self.view_box.addItem(line, ignoreBounds=True)
        self._shape: tuple[int, int] | None = None
        self._pixel_size = (1.0, 1.0)

        # Orientation letters live in the scene (drawn in the same pass as the image): QLabel
        # overlays with a backdrop doubled the repaint time of a slice change. A dark outline
        # keeps them legible over bright tissue.
        font = QFont()
        font.setBold(True)
        font.setPixelSize(14)
        self._edge_labels = {}
        for edge in ("top", "bottom", "left", "right"):
            label = QGraphicsSimpleTextItem("")
            label.setFont(font)
            label.setBrush(QBrush(QColor(LABEL_COLOR)))
            label.setPen(QPen(QColor(0, 0, 0, 200), 0.8))
            label.setZValue(1000)
            label.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            self.graphics.scene().addItem(label)
            self._edge_labels[edge] = label
        self.message = QLabel("", self.graphics)
        self.message.setStyleSheet(MESSAGE_STYLE)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.message.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.title)
        layout.addWidget(self.graphics, 1)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.installEventFilter(self)

    # -- content --------------------------------------------------------------------------
    def set_image(self, image: np.ndarray | None, levels, pixel_size=(1.0, 1.0)) -> None:
        """Show a display-oriented slice with fixed levels (never auto-levelled)."""
        self.image = image
        if image is None:
            self.image_item.clear()
            self._shape = None  # a stale shape would size the next volume's view
            return
        self.image_item.setImage(image, autoLevels=False, levels=levels)
        shape = image.shape[:2]
        pixel_size = (float(pixel_size[0]), float(pixel_size[1]))
        if shape != self._shape or pixel_size != self._pixel_size:
            self._shape, self._pixel_size = shape, pixel_size
            self.image_item.setRect(QRectF(0, 0, shape[1] * pixel_size[1], shape[0] * pixel_size[0]))

    def set_levels(self, levels) -> None:
        self.image_item.setLevels(levels)

    def set_lookup_table(self, lut) -> None:
        self.image_item.setLookupTable(lut)

    def show_message(self, text: str | None) -> None:
        """A centred note over the pane ('No ground truth', 'Denoising…'); None hides it."""
        if text:
            self.message.setText(text)
            self.message.show()
            self._place_overlays()
        else:
            self.message.hide()

    @property
    def message_text(self) -> str | None:
        return None if self.message.isHidden() else self.message.text()

    def set_orientation_labels(self, labels: dict | None) -> None:
        if labels == getattr(self, "_labels", None):
            return  # unchanged: no relayout while scrubbing
        self._labels = dict(labels) if labels else None
        for edge, label in self._edge_labels.items():
            label.setText((labels or {}).get(edge, ""))
        self._place_overlays()

    def set_crosshair(self, row: int | None, col: int | None) -> None:
        """Mark the voxel under the cursor (in every pane, so the same spot can be compared)."""
        if row is None or col is None or self._shape is None:
            for line in self._cross:
                line.hide()
            return
        self._cross[0].setPos((col + 0.5) * self._pixel_size[1])
        self._cross[1].setPos((row + 0.5) * self._pixel_size[0])
        for line in self._cross:
            line.show()

    def image_rect(self) -> QRectF | None:
        if self._shape is None:
            return None
        return QRectF(0, 0, self._shape[1] * self._pixel_size[1], self._shape[0] * self._pixel_size[0])

    def reset_view(self) -> None:
        rect = self.image_rect()
        if rect is not None:
            self.view_box.setRange(rect, padding=0.02)

    # -- overlays and cursor --------------------------------------------------------------
    def eventFilter(self, obj, event):
        if obj is self.graphics and event.type() == event.Type.Resize:
            self._place_overlays()
        elif obj is self.graphics and event.type() == event.Type.Leave:
            self.cursorLeft.emit()
        return super().eventFilter(obj, event)

    def _place_overlays(self) -> None:
        w, h = self.graphics.width(), self.graphics.height()
        m = 4
        top, bottom = self._edge_labels["top"], self._edge_labels["bottom"]
        left, right = self._edge_labels["left"], self._edge_labels["right"]
        size = {edge: label.boundingRect() for edge, label in self._edge_labels.items()}
        top.setPos((w - size["top"].width()) / 2, m)
        bottom.setPos((w - size["bottom"].width()) / 2, h - size["bottom"].height() - m)
        left.setPos(m + 2, (h - size["left"].height()) / 2)
        right.setPos(w - size["right"].width() - m - 2, (h - size["right"].height()) / 2)
        self.message.setFixedWidth(max(w - 40, 60))
        self.message.adjustSize()
        self.message.move((w - self.message.width()) // 2, (h - self.message.height()) // 2)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self._shape is None:
            return
        point = self.view_box.mapSceneToView(scene_pos)
        row = int(np.floor(point.y() / self._pixel_size[0]))
        col = int(np.floor(point.x() / self._pixel_size[1]))
        if 0 <= row < self._shape[0] and 0 <= col < self._shape[1]:
            self.cursorMoved.emit(row, col)
        else:
            self.cursorLeft.emit()


class CompareView(QWidget):
    """The panes side by side plus the shared window/level (histogram) control."""

    PANES = (
        ("noisy", "Noisy", "noisyView"),
        ("denoised", "Denoised", "denoisedView"),
        ("truth", "Ground truth", "truthView"),
        ("residual", "Residual (noisy − denoised)", "residualView"),
    )

    levelsChanged = pyqtSignal(float, float)
    sliceStep = pyqtSignal(int)
    cursorMoved = pyqtSignal(int, int)
    cursorLeft = pyqtSignal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("compareView")
        self.panes: dict[str, SlicePane] = {}
        self._grid_host = QWidget(self)
        for key, title, name in self.PANES:
            pane = SlicePane(title, name, self._grid_host)  # parented even while hidden
            pane.view_box.sigSliceStep.connect(self.sliceStep)
            pane.cursorMoved.connect(self._on_cursor_moved)
            pane.cursorLeft.connect(self._on_cursor_left)
            self.panes[key] = pane
        # Linked zoom and pan. pyqtgraph's setXLink/setYLink fight each other when the aspect is
        # locked, so every pane copies the view rectangle of the one the user moved.
        self._syncing = False
        for pane in self.panes.values():
            pane.view_box.sigRangeChanged.connect(self._on_view_range_changed)

        self.histogram = pg.HistogramLUTItem(orientation="vertical")
        self.histogram.plot.setPen(pg.mkPen("#9aa4b1", width=1))
        self.histogram.plot.setBrush(pg.mkBrush(120, 130, 145, 90))
        self.histogram_view = pg.GraphicsView(background="#15171a")
        self.histogram_view.setObjectName("levelsControl")
        self.histogram_view.setCentralItem(self.histogram)
        self.histogram_view.setFixedWidth(88)
        self.histogram_view.setToolTip("Window / level shared by the Noisy, Denoised and Ground truth panes:"
                                       " drag the region or its edges.")
        self.histogram.sigLevelsChanged.connect(self._on_levels_changed)
        self.histogram.sigLookupTableChanged.connect(self._on_lookup_table_changed)

        self._grid = QGridLayout(self._grid_host)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(4)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(4)
        outer.addWidget(self._grid_host, 1)
        outer.addWidget(self.histogram_view)
        self._residual_visible = None
        self.set_residual_visible(False)

    def _on_view_range_changed(self, source, _view_range, *_):
        """Copy the moved pane's target range (what was asked for), never its view range.

        The view range is the target widened to the pane's aspect ratio: copying it made every
        resize or residual toggle widen the others' targets, and the images shrank each time.
        """
        if self._syncing or not any(p.view_box is source and p.isVisible() for p in self.panes.values()):
            return  # our own echo, or a hidden pane adjusting to its stale size
        self._syncing = True
        try:
            target = [list(r) for r in source.targetRange()]
            for pane in self.panes.values():
                if pane.view_box is not source and [list(r) for r in pane.view_box.targetRange()] != target:
                    pane.view_box.setRange(xRange=target[0], yRange=target[1], padding=0, update=True)
        finally:
            self._syncing = False

    def _on_cursor_moved(self, row: int, col: int) -> None:
        for pane in self.panes.values():
            pane.set_crosshair(row, col)
        self.cursorMoved.emit(row, col)

    def _on_cursor_left(self) -> None:
        for pane in self.panes.values():
            pane.set_crosshair(None, None)
        self.cursorLeft.emit()

    @property
    def gray_panes(self) -> list[SlicePane]:
        return [self.panes[k] for k in ("noisy", "denoised", "truth")]

    def set_residual_visible(self, visible: bool) -> None:
        """Three panes in a row, or a 2x2 grid with the residual: every pane the same size."""
        visible = bool(visible)
        if visible == self._residual_visible:
            return
        self._residual_visible = visible
        if visible:
            positions = {"noisy": (0, 0), "denoised": (0, 1), "truth": (1, 0), "residual": (1, 1)}
        else:
            positions = {"noisy": (0, 0), "denoised": (0, 1), "truth": (0, 2)}
        self._place_panes(positions)

    def _place_panes(self, positions: dict) -> None:
        """Put the panes named in `positions` at their (row, col), equal stretch; hide the others."""
        for pane in self.panes.values():
            self._grid.removeWidget(pane)
        for c in range(self._grid.columnCount()):
            self._grid.setColumnStretch(c, 0)
        for r in range(self._grid.rowCount()):
            self._grid.setRowStretch(r, 0)
        for key, pane in self.panes.items():
            if key in positions:
                self._grid.addWidget(pane, *positions[key])
                pane.show()
            else:
                pane.hide()
        cols = {c for _, c in positions.values()}
        rows = {r for r, _ in positions.values()}
        for c in cols:
            self._grid.setColumnStretch(c, 1)
        for r in rows:
            self._grid.setRowStretch(r, 1)

    @property
    def residual_visible(self) -> bool:
        return bool(self._residual_visible)

    def set_histogram(self, centres: np.ndarray, counts: np.ndarray) -> None:
        self.histogram.plot.setData(centres, counts)
        self.histogram.setHistogramRange(float(centres[0]), float(centres[-1]), padding=0.02)

    def set_levels(self, lo: float, hi: float) -> None:
        """Set window/level from code (per volume); panes follow via `_on_levels_changed`."""
        self.histogram.setLevels(lo, hi)
        self._apply_levels(lo, hi)

    def levels(self) -> tuple[float, float]:
        lo, hi = self.histogram.getLevels()
        return float(lo), float(hi)

    def _on_levels_changed(self, *_):
        lo, hi = self.levels()
        self._apply_levels(lo, hi)
        self.levelsChanged.emit(lo, hi)

    def _apply_levels(self, lo: float, hi: float) -> None:
        for pane in self.gray_panes:
            pane.set_levels((lo, hi))

    def _on_lookup_table_changed(self, *_):
        lut = None if self.histogram.gradient.isLookupTrivial() else self.histogram.getLookupTable(n=512)
        for pane in self.gray_panes:
            pane.set_lookup_table(lut)

    def reset_view(self) -> None:
        """Fit the slice in every pane (they all show the same field of view)."""
        rect = next((p.image_rect() for p in self.panes.values() if p.image is not None), None)
        if rect is None:
            return
        self._syncing = True
        try:
            for pane in self.panes.values():
                pane.view_box.setRange(rect, padding=0.02)
        finally:
            self._syncing = False
