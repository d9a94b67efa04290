"""Live training curves: loss, validation SSIM and validation PSNR per epoch.

Why three small plots rather than one: loss and SSIM live in [0, 1] but PSNR is in dB, and
a second y axis makes it hard to read which curve belongs where. The noisy input's SSIM and
PSNR are drawn as dashed reference lines: a model is only useful above them.
"""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QHBoxLayout, QWidget

TRAIN_COLOR = "#6fa8ff"
VAL_COLOR = "#ffb454"
NOISY_COLOR = "#c0c4ca"
BATCH_COLOR = (111, 168, 255, 90)
#: Batch-level points kept for the faint running-loss curve (older ones are thinned out).
MAX_BATCH_POINTS = 2000


def _plot(title: str, y_label: str, object_name: str, legend: bool = False) -> pg.PlotWidget:
    plot = pg.PlotWidget(background="#1a1c20")
    plot.setObjectName(object_name)
    plot.setTitle(title, color="#cfd3d8", size="10pt")
    plot.setLabel("bottom", "epoch")
    plot.setLabel("left", y_label)
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setMouseEnabled(x=False, y=False)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.setMinimumHeight(150)
    plot.getAxis("left").enableAutoSIPrefix(False)  # "loss (x0.001)" reads worse than 0.25
    if legend:  # only the loss plot has two curves to tell apart
        plot.addLegend(offset=(-8, 8), labelTextSize="8pt").setBrush(pg.mkBrush(26, 28, 32, 200))
    return plot


def _reference_line(plot: pg.PlotWidget, label: str) -> pg.InfiniteLine:
    line = pg.InfiniteLine(angle=0, movable=False,
                           pen=pg.mkPen(NOISY_COLOR, width=1, style=Qt.PenStyle.DashLine),
                           label=label, labelOpts={"position": 0.08, "color": NOISY_COLOR,
                                                   "anchors": [(0, 1), (0, 1)]})
    line.setVisible(False)
    plot.addItem(line, ignoreBounds=False)
    return line


class TrainingCurves(QWidget):
    """Three linked-x plots fed with epoch logs (`add_epoch`) and batch logs (`add_batch`)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("trainingCurves")
        self.loss_plot = _plot("Loss", "loss", "lossPlot", legend=True)
        self.ssim_plot = _plot("Validation SSIM", "SSIM", "ssimPlot")
        self.psnr_plot = _plot("Validation PSNR", "dB", "psnrPlot")
        for plot in (self.ssim_plot, self.psnr_plot):
            plot.setXLink(self.loss_plot)

        self.batch_loss = self.loss_plot.plot([], [], pen=pg.mkPen(BATCH_COLOR, width=1))
        self.train_loss = self.loss_plot.plot([], [], pen=pg.mkPen(TRAIN_COLOR, width=2), symbol="o",
                                              symbolSize=5, symbolBrush=TRAIN_COLOR, name="train")
        self.val_loss = self.loss_plot.plot([], [], pen=pg.mkPen(VAL_COLOR, width=2), symbol="o",
                                            symbolSize=5, symbolBrush=VAL_COLOR, name="validation")
        self.val_ssim = self.ssim_plot.plot([], [], pen=pg.mkPen(VAL_COLOR, width=2), symbol="o",
                                            symbolSize=5, symbolBrush=VAL_COLOR, name="denoised")
        self.val_psnr = self.psnr_plot.plot([], [], pen=pg.mkPen(VAL_COLOR, width=2), symbol="o",
                                            symbolSize=5, symbolBrush=VAL_COLOR, name="denoised")
        self.noisy_ssim_line = _reference_line(self.ssim_plot, "noisy input")
        self.noisy_psnr_line = _reference_line(self.psnr_plot, "noisy input")

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        for plot in (self.loss_plot, self.ssim_plot, self.psnr_plot):
            layout.addWidget(plot, 1)
        self.clear()

    def clear(self) -> None:
        """Forget every point and hide the reference lines (a new run starts)."""
        self.epochs: list[float] = []
        self.series: dict[str, list[float]] = {"loss": [], "val_loss": [], "val_ssim": [], "val_psnr": []}
        self._batch_x: list[float] = []
        self._batch_y: list[float] = []
        for curve in (self.batch_loss, self.train_loss, self.val_loss, self.val_ssim, self.val_psnr):
            curve.setData([], [])
        self.noisy_ssim_line.setVisible(False)
        self.noisy_psnr_line.setVisible(False)

    def add_batch(self, x: float, loss: float | None) -> None:
        """A running training loss inside an epoch (x in epochs, fractional)."""
        if loss is None:
            return
        self._batch_x.append(float(x))
        self._batch_y.append(float(loss))
        if len(self._batch_x) > MAX_BATCH_POINTS:
            self._batch_x, self._batch_y = self._batch_x[::2], self._batch_y[::2]
        self.batch_loss.setData(self._batch_x, self._batch_y)

    def add_epoch(self, epoch: int, logs: dict) -> None:
        """One epoch's Keras logs (`loss`, `val_loss`, `val_ssim_metric`, `val_psnr_metric`)."""
        self.epochs.append(float(epoch))
        nan = float("nan")
        self.series["loss"].append(float(logs.get("loss", nan)))
        self.series["val_loss"].append(float(logs.get("val_loss", nan)))
        self.series["val_ssim"].append(float(logs.get("val_ssim_metric", logs.get("val_ssim", nan))))
        self.series["val_psnr"].append(float(logs.get("val_psnr_metric", logs.get("val_psnr", nan))))
        x = self.epochs
        self.train_loss.setData(x, self.series["loss"], connect="finite")
        self.val_loss.setData(x, self.series["val_loss"], connect="finite")
        self.val_ssim.setData(x, self.series["val_ssim"], connect="finite")
        self.val_psnr.setData(x, self.series["val_psnr"], connect="finite")

    def set_noisy_reference(self, ssim: float | None, psnr: float | None) -> None:
        """The noisy input's validation SSIM / PSNR as dashed horizontal lines."""
        for line, value, fmt in ((self.noisy_ssim_line, ssim, "noisy input {:.3f}"),
                                 (self.noisy_psnr_line, psnr, "noisy input {:.1f} dB")):
            if value is None:
                line.setVisible(False)
                continue
            line.setValue(float(value))
            line.label.setFormat(fmt.format(float(value)))
            line.setVisible(True)
