"""Regions and profiles: a rectangle / ellipse ROI's mean, SD and SNR in every pane, a line's profile.

The ROIs are pyqtgraph ROIs (drag, resize) drawn on one pane; the pixels they cover are chosen by
`viewer.comparison.roi_mask` (pixel centres inside), so the numbers are plain numpy on the same
pixels of every pane's slice. A line ROI plots the intensity profile of every pane in one plot.
View › Save ROIs… / Load ROIs… keep them as JSON (`viewer.rois`), to measure the same region on
another scan, with another model or in another session.
A mixin of `MainWindow`; what it uses of the window is declared below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QGroupBox, QLabel, QVBoxLayout

from mri_denoise_gui.core.outputs import write_file_atomic
from mri_denoise_gui.qt.comparison_view import ComparisonView
from mri_denoise_gui.qt.messages import reported
from mri_denoise_gui.viewer.comparison import format_roi, line_profile, roi_mask, roi_stats
from mri_denoise_gui.viewer.rois import RoiSpec, rois_from_json, rois_to_json
from mri_denoise_gui.viewer.session import ViewerSession

MAX_ROI_FILE_BYTES = 1_000_000  # an ROI file is a few hundred bytes an ROI: anything far larger is not one
PANE_COLOURS = ("#9aa4b1", "#f0c040", "#7fd17f", "#60a8ff", "#ff8a80", "#d080ff", "#40d0d0")


class RegionPanel(QGroupBox):
    """ROI statistics per pane and the line profile plot."""

    def __init__(self, parent=None):
        super().__init__("Region and profile", parent)
        self.setObjectName("regionPanel")
        self.stats_label = QLabel("View › Add rectangle / ellipse ROI or line profile")
        self.stats_label.setObjectName("roiStatsLabel")
        self.stats_label.setWordWrap(True)
        self.profile_plot = pg.PlotWidget(background="#15171a")
        self.profile_plot.setObjectName("profilePlot")
        self.profile_plot.setMinimumHeight(140)
        self.profile_plot.addLegend(offset=(4, 4))
        self.profile_plot.setLabel("bottom", "pixel along the line")
        self.profile_plot.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.stats_label)
        layout.addWidget(self.profile_plot)


class RoiMixin:
    """Rectangle / ellipse ROIs with statistics in every pane, a line ROI with profiles."""

    session: ViewerSession
    compare: ComparisonView
    panes: dict

    def _init_rois(self) -> None:
        self.region_panel = RegionPanel()
        self.rois: list[tuple[str, str, pg.ROI]] = []  # (kind, pane key, roi)
        self.roi_stats: dict[str, dict] = {}  # pane key -> stats of the last area ROI
        self.profiles: dict[str, np.ndarray] = {}  # pane key -> profile of the last line ROI

    def add_roi(self, kind: str, pane: str = "noisy", pos=None, size=None) -> pg.ROI:
        """A "rect", "ellipse" or "line" ROI on `pane` (view millimetres; default: the image centre)."""
        target = self.panes[pane]
        rect = target.image_rect()
        if rect is None:
            raise ValueError("open a volume first")
        if size is None:
            size = (rect.width() / 4, rect.height() / 4)
        if pos is None:
            pos = (rect.center().x() - size[0] / 2, rect.center().y() - size[1] / 2)
        pen = pg.mkPen("#40d0ff", width=2)
        if kind == "rect":
            roi = pg.RectROI(pos, size, pen=pen, rotatable=False)
        elif kind == "ellipse":
            roi = pg.EllipseROI(pos, size, pen=pen, rotatable=False)
        elif kind == "line":
            roi = pg.LineSegmentROI([pos, (pos[0] + size[0], pos[1] + size[1])], pen=pen)
        else:
            raise ValueError(f"unknown ROI kind {kind!r}; choose rect, ellipse or line")
        roi.setZValue(20)
        roi.drawn_axis = self.session.axis  # the view it means something in (kept in ROI files)
        target.view_box.addItem(roi)
        self.rois.append((kind, pane, roi))
        roi.sigRegionChanged.connect(lambda *_: self.update_rois())
        self.region_panel.profile_plot.setVisible(any(k == "line" for k, _, _ in self.rois))
        self.update_rois()
        return roi

    def clear_rois(self) -> None:
        for _kind, pane, roi in self.rois:
            if pane in self.panes:
                self.panes[pane].view_box.removeItem(roi)
        self.rois.clear()
        self.roi_stats, self.profiles = {}, {}
        self.region_panel.profile_plot.clear()
        self.region_panel.profile_plot.hide()
        self.region_panel.stats_label.setText("View › Add rectangle / ellipse ROI or line profile")

    @staticmethod
    def _line_ends(line: pg.ROI) -> tuple[tuple[float, float], tuple[float, float]]:
        """A line ROI's two ends in view millimetres."""
        (x0, y0), (x1, y1) = [(h.x(), h.y()) for h in (line.mapToParent(p) for p in
                                                        (line.handles[0]["pos"], line.handles[1]["pos"]))]
        return (x0, y0), (x1, y1)

    def roi_specs(self) -> list[RoiSpec]:
        """The ROIs on screen as data (`viewer.rois`), in the order they were drawn."""
        specs = []
        for kind, pane, roi in self.rois:  # add_roi gave every one its drawn_axis
            if kind == "line":
                (x0, y0), (x1, y1) = self._line_ends(roi)
                specs.append(RoiSpec(kind, pane, roi.drawn_axis, (x0, y0), (x1 - x0, y1 - y0)))
            else:
                pos, size = roi.pos(), roi.size()
                specs.append(RoiSpec(kind, pane, roi.drawn_axis, (pos.x(), pos.y()), (size.x(), size.y())))
        return specs

    @reported("Could not save the ROIs", False)
    def save_rois(self, path) -> bool:
        """Write the ROIs on screen to ``path`` (JSON, through a temporary file)."""
        if not self.rois:
            raise ValueError("there are no ROIs to save: add one from the View menu")
        path = Path(path)
        if path.suffix.lower() != ".json":
            path = path.with_name(path.name + ".json")
        write_file_atomic(path, rois_to_json(self.roi_specs()))
        self.statusBar().showMessage(f"{len(self.rois)} ROI(s) saved to {path}", 8000)
        return True

    @reported("Could not load the ROIs", False)
    def load_rois(self, path) -> bool:
        """Replace the ROIs on screen with those of ``path``, switching to the axis they were drawn on."""
        if self.session.data is None:
            raise ValueError("open a volume first")
        path = Path(path)
        if path.stat().st_size > MAX_ROI_FILE_BYTES:
            raise ValueError(f"{path.name} is too large to be an ROI file")
        specs = rois_from_json(path.read_text(encoding="utf-8", errors="replace"))
        if not specs:
            raise ValueError(f"{path.name} holds no ROIs")
        axes = [s.axis for s in specs]
        if self.session.axis not in axes:
            self.set_axis(axes[0])
        self.clear_rois()
        shown = [s for s in specs if s.axis == self.session.axis]
        for spec in shown:
            pane = spec.pane if spec.pane in self.panes and self.panes[spec.pane].image is not None else "noisy"
            self.add_roi(spec.kind, pane, pos=spec.pos, size=spec.size)
        skipped = len(specs) - len(shown)
        self.statusBar().showMessage(f"{len(shown)} ROI(s) loaded from {path.name}"
                                     + (f"; {skipped} drawn on other axes left out" if skipped else ""), 10_000)
        return True

    def _roi_images(self) -> dict[str, np.ndarray]:
        return {k: p.image for k, p in self.panes.items()
                if p.image is not None and k not in ("residual", "error") and p.isVisible()}

    def update_rois(self) -> None:
        """Recompute every pane's numbers for the newest area ROI and line (cheap numpy on one slice)."""
        if not self.rois or self.session.data is None:
            return
        px = self.session.data.geometry(self.session.axis).pixel_size
        images = self._roi_images()
        area = next(((k, r) for k, _, r in reversed(self.rois) if k != "line"), None)
        line = next((r for k, _, r in reversed(self.rois) if k == "line"), None)
        lines = []
        if area is not None:
            kind, roi = area
            self.roi_stats = {}
            for key, image in images.items():
                mask = roi_mask(image.shape, px, kind, roi.pos(), roi.size())
                self.roi_stats[key] = roi_stats(image[mask])
                lines.append(format_roi(self.panes[key].title.text().split(" · ")[0], self.roi_stats[key]))
        if line is not None:
            (x0, y0), (x1, y1) = self._line_ends(line)
            start, end = (y0 / px[0] - 0.5, x0 / px[1] - 0.5), (y1 / px[0] - 0.5, x1 / px[1] - 0.5)
            self.profiles = {key: line_profile(image, start, end) for key, image in images.items()}
            plot = self.region_panel.profile_plot
            plot.clear()
            for i, (key, values) in enumerate(self.profiles.items()):
                plot.plot(values, pen=pg.mkPen(PANE_COLOURS[i % len(PANE_COLOURS)], width=1.5),
                          name=self.panes[key].title.text().split(" · ")[0])
        if lines:
            self.region_panel.stats_label.setText("\n".join(lines))
