"""The compare view grown for comparison work: extra method panes, an error map, colour bars.

Extra panes are ordinary `SlicePane`s added to `CompareView.panes`, so the linked zoom / pan,
crosshair and shared window / level already reach them. Layout: the image panes in one row
(Noisy, Denoised, the comparison panes, Ground truth); the residual and the error map in a
second row when shown. A colour bar sits beside a pane's image in the same scene.
"""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6.QtWidgets import QWidget

from mri_denoise_gui.qt.slice_views import CompareView, SlicePane

ERROR_COLORMAP = "inferno"


def attach_colour_bar(pane: SlicePane, colormap: str, levels=(0.0, 1.0)) -> pg.ColorBarItem:
    """Put a (non-interactive) colour bar right of the pane's image; kept as `pane.colour_bar`."""
    layout = pg.GraphicsLayout()
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(0)
    pane.graphics.setCentralItem(layout)
    layout.addItem(pane.view_box, 0, 0)
    # pyqtgraph's bundled maps (no matplotlib): inferno for errors, CET-L1 (linear grey) for images
    bar = pg.ColorBarItem(values=tuple(levels), colorMap=pg.colormap.get("CET-L1" if colormap == "grey" else colormap),
                          interactive=False, width=12)
    layout.addItem(bar, 0, 1)
    bar.setVisible(True)
    pane.colour_bar = bar
    return bar


class ComparisonView(CompareView):
    """`CompareView` plus method panes (added and removed at run time) and an error-map pane."""

    def __init__(self, parent: QWidget | None = None):
        self._extra: list[str] = []
        self._error_visible = False
        super().__init__(parent)
        error = self._new_pane("error", "Error |denoised − truth|", "errorView")
        self.error_bar = attach_colour_bar(error, ERROR_COLORMAP, (0.0, 0.1))
        self.error_bar.setImageItem(error.image_item)
        self._relayout()

    def _new_pane(self, key: str, title: str, name: str) -> SlicePane:
        pane = SlicePane(title, name, self._grid_host)
        pane.view_box.sigSliceStep.connect(self.sliceStep)
        pane.cursorMoved.connect(self._on_cursor_moved)
        pane.cursorLeft.connect(self._on_cursor_left)
        pane.view_box.sigRangeChanged.connect(self._on_view_range_changed)
        pane.colour_bar = None
        self.panes[key] = pane
        return pane

    # -- method panes --------------------------------------------------------------------------
    def add_pane(self, key: str, title: str, name: str) -> SlicePane:
        pane = self._new_pane(key, title, name)
        self._extra.append(key)
        lo, hi = self.levels()
        pane.set_levels((lo, hi))
        self._relayout()
        rect = next((p.view_box.targetRect() for k, p in self.panes.items() if k != key and p.isVisible()), None)
        if rect is not None:
            pane.view_box.setRange(rect, padding=0)
        return pane

    def remove_pane(self, key: str) -> None:
        if key not in self._extra:
            raise KeyError(key)
        self._extra.remove(key)
        pane = self.panes.pop(key)
        self._grid.removeWidget(pane)
        pane.hide()
        pane.deleteLater()
        self._relayout()

    @property
    def method_panes(self) -> list[str]:
        return list(self._extra)

    @property
    def gray_panes(self) -> list[SlicePane]:
        return [self.panes[k] for k in ("noisy", "denoised", *self._extra, "truth")]

    # -- layout --------------------------------------------------------------------------------
    def set_residual_visible(self, visible: bool) -> None:
        self._residual_visible = bool(visible)
        if hasattr(self, "_extra") and "error" in self.panes:
            self._relayout()
        else:
            super().set_residual_visible(visible)

    def set_error_visible(self, visible: bool) -> None:
        self._error_visible = bool(visible)
        self._relayout()

    @property
    def error_visible(self) -> bool:
        return self._error_visible

    def _relayout(self) -> None:
        """Image panes in the first row; the residual and error map in the second when shown."""
        top = ["noisy", "denoised", *self._extra, "truth"]
        bottom = [k for k, on in (("residual", self._residual_visible), ("error", self._error_visible)) if on]
        positions = {k: (0, c) for c, k in enumerate(top)}
        positions.update({k: (1, c) for c, k in enumerate(bottom)})
        self._place_panes(positions)

    # -- colour bars ---------------------------------------------------------------------------
    def set_colour_bars_visible(self, visible: bool) -> None:
        """A grey bar beside every image pane, showing the shared window / level."""
        for pane in self.gray_panes:
            if getattr(pane, "colour_bar", None) is None and visible:
                attach_colour_bar(pane, "grey", self.levels())
            if getattr(pane, "colour_bar", None) is not None:
                pane.colour_bar.setVisible(visible)
        self._colour_bars = bool(visible)

    def _apply_levels(self, lo: float, hi: float) -> None:
        super()._apply_levels(lo, hi)
        for pane in self.gray_panes:
            if getattr(pane, "colour_bar", None) is not None and pane.colour_bar.isVisible():
                pane.colour_bar.setLevels((lo, hi))
