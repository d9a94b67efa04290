"""The control widgets around the panes: slice scrubber, noise, metrics, model, volume job.

Each widget is dumb: it emits `<thing>Changed` when the user edits it, and the window pushes
state back with `set_*` methods that block signals (`QSignalBlocker`), so there are no loops.
"""

from __future__ import annotations

import math

from PyQt6.QtCore import QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from mri_denoise_gui.core.noise import DESCRIPTIONS, NOISE_KINDS, sigma_from_variance
from mri_denoise_gui.core.orientation import AXIS_NAMES
from mri_denoise_gui.qt.clamping_spin_box import ClampingSpinBox
from mri_denoise_gui.viewer.state import VARIANCE_MAX, NoiseSettings

DASH = "—"
DONE = "Done"


class SliceControls(QWidget):
    """Axis selector, slice slider and spin box, kept in step."""

    sliceChanged = pyqtSignal(int)
    axisChanged = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.axis_combo = QComboBox()
        self.axis_combo.setObjectName("axisCombo")
        self.axis_combo.setToolTip("View axis (shown in the closest RAS orientation)")
        for name in AXIS_NAMES:
            self.axis_combo.addItem(name.capitalize(), name)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("sliceSlider")
        self.slider.setToolTip("Slice (Up/Down, PgUp/PgDn, Home/End, mouse wheel)")
        self.slider.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.spin = QSpinBox()
        self.spin.setObjectName("sliceSpin")
        self.spin.setKeyboardTracking(False)
        self.spin.setMinimumWidth(70)
        self.count_label = QLabel("")
        self.count_label.setObjectName("sliceCountLabel")  # "slice i of N", counted from 1
        self.count_label.setMinimumWidth(110)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(QLabel("View"))
        layout.addWidget(self.axis_combo)
        layout.addSpacing(8)
        layout.addWidget(QLabel("Slice"))
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        layout.addWidget(self.count_label)
        self.slider.valueChanged.connect(self._on_slider_changed)
        self.spin.valueChanged.connect(self._on_spin_changed)
        self.axis_combo.currentIndexChanged.connect(self._on_axis_changed)
        self.set_range(0)

    def _on_slider_changed(self, value: int) -> None:
        with QSignalBlocker(self.spin):
            self.spin.setValue(value)
        self.sliceChanged.emit(value)

    def _on_spin_changed(self, value: int) -> None:
        with QSignalBlocker(self.slider):
            self.slider.setValue(value)
        self.sliceChanged.emit(value)

    def _on_axis_changed(self, _index: int) -> None:
        self.axisChanged.emit(self.axis())

    def axis(self) -> str:
        return str(self.axis_combo.currentData())

    def set_axis(self, name: str) -> None:
        with QSignalBlocker(self.axis_combo):
            self.axis_combo.setCurrentIndex(max(0, AXIS_NAMES.index(name)))

    def set_range(self, n_slices: int) -> None:
        top = max(n_slices - 1, 0)
        for w in (self.slider, self.spin):
            with QSignalBlocker(w):
                w.setRange(0, top)
        self.slider.setPageStep(10)
        self._n_slices = n_slices
        self.count_label.setText(f"slice {self.spin.value() + 1} of {n_slices}" if n_slices else "")
        self.setEnabled(n_slices > 0)

    def set_value(self, index: int) -> None:
        for w in (self.slider, self.spin):
            with QSignalBlocker(w):
                w.setValue(index)
        self.count_label.setText(f"slice {index + 1} of {self._n_slices}")


class NoiseControls(QGroupBox):
    """Noise kind, variance (with sigma and % of range), seed, auto-apply."""

    settingsChanged = pyqtSignal(object)  # NoiseSettings, on every edit
    applyRequested = pyqtSignal()
    notice = pyqtSignal(str)  # something the user should read (a typed value was clamped)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Synthetic noise", parent)
        self.kind_combo = QComboBox()
        self.kind_combo.setObjectName("noiseKindCombo")
        for kind in NOISE_KINDS:
            self.kind_combo.addItem(kind, kind)
            self.kind_combo.setItemData(self.kind_combo.count() - 1, DESCRIPTIONS.get(kind, kind),
                                        Qt.ItemDataRole.ToolTipRole)
        self.variance_spin = ClampingSpinBox()
        self.variance_spin.setObjectName("noiseVarianceSpin")
        self.variance_spin.setDecimals(4)
        self.variance_spin.setRange(0.0, VARIANCE_MAX)
        self.variance_spin.setSingleStep(0.0005)
        self.variance_spin.setKeyboardTracking(False)
        self.variance_spin.setToolTip("Variance of the noise on the [0, 1] normalised image (scikit-image's meaning)")
        self.sigma_label = QLabel()
        self.sigma_label.setObjectName("noiseSigmaLabel")
        self.sigma_label.setStyleSheet("color: #a0a6ad;")
        self.seed_spin = QSpinBox()
        self.seed_spin.setObjectName("noiseSeedSpin")
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setKeyboardTracking(False)
        self.seed_spin.setToolTip("Same seed, same noise: every noisy volume is reproducible")
        self.auto_check = QCheckBox("Apply automatically")
        self.auto_check.setObjectName("noiseAutoCheck")
        self.auto_check.setChecked(True)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("noiseApplyButton")
        self.apply_button.setEnabled(False)

        form = QFormLayout(self)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("Kind", self.kind_combo)
        form.addRow("Variance", self.variance_spin)
        form.addRow("", self.sigma_label)
        form.addRow("Seed", self.seed_spin)
        row = QHBoxLayout()
        row.addWidget(self.auto_check, 1)
        row.addWidget(self.apply_button)
        form.addRow(row)

        self.kind_combo.currentIndexChanged.connect(self._on_edited)
        self.variance_spin.valueChanged.connect(self._on_edited)
        self.seed_spin.valueChanged.connect(self._on_edited)
        self.auto_check.toggled.connect(self._on_auto_changed)
        self.apply_button.clicked.connect(self.applyRequested)
        self.variance_spin.clamped.connect(
            lambda typed, used: self.notice.emit(f"Variance {typed:g} is out of range (0 to {VARIANCE_MAX:g}): "
                                                 f"set to {used:g}"))
        self.set_settings(NoiseSettings())

    def settings(self) -> NoiseSettings:
        return NoiseSettings(str(self.kind_combo.currentData()), float(self.variance_spin.value()),
                             int(self.seed_spin.value()))

    def set_settings(self, settings: NoiseSettings) -> None:
        settings = settings.validated()
        blockers = [QSignalBlocker(w) for w in (self.kind_combo, self.variance_spin, self.seed_spin)]
        self.kind_combo.setCurrentIndex(max(0, NOISE_KINDS.index(settings.kind)))
        self.variance_spin.setValue(settings.variance)
        self.seed_spin.setValue(settings.seed)
        for blocker in blockers:
            blocker.unblock()
        self._update_sigma()

    def auto_apply(self) -> bool:
        return self.auto_check.isChecked()

    def set_auto_apply(self, on: bool) -> None:
        with QSignalBlocker(self.auto_check):
            self.auto_check.setChecked(bool(on))

    def set_dirty(self, dirty: bool) -> None:
        """Enable Apply when the settings differ from the noise on screen."""
        self.apply_button.setEnabled(bool(dirty))

    def _update_sigma(self) -> None:
        sigma = sigma_from_variance(self.variance_spin.value())
        self.sigma_label.setText(f"σ = {sigma:.3f}  ({100 * sigma:.1f} % of range)")

    def _on_edited(self, *_):
        self._update_sigma()
        self.settingsChanged.emit(self.settings())

    def _on_auto_changed(self, on: bool) -> None:
        if on:
            self.settingsChanged.emit(self.settings())


def _fmt_ssim(v: float | None) -> str:
    return DASH if v is None or not math.isfinite(v) else f"{v:.4f}"


def _fmt_psnr(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return DASH
    if math.isinf(v):
        return "∞ dB"
    return f"{v:.2f} dB"


def _fmt_delta(v: float | None, unit: str = "", digits: int = 4) -> str:
    if v is None or not math.isfinite(v):
        return DASH
    return f"{v:+.{digits}f}{unit}"


class MetricsPanel(QGroupBox):
    """SSIM / PSNR vs ground truth: this slice (noisy, denoised, improvement) and whole volume."""

    maskChanged = pyqtSignal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Quality vs ground truth", parent)
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        head = "color: #a0a6ad;"
        for c, text in enumerate(("", "SSIM", "PSNR")):
            label = QLabel(text)
            label.setStyleSheet(head)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(label, 0, c)

        def value_label(name: str) -> QLabel:
            label = QLabel(DASH)
            label.setObjectName(name)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setMinimumWidth(72)
            return label

        self.ssim_noisy = value_label("ssimNoisyLabel")
        self.psnr_noisy = value_label("psnrNoisyLabel")
        self.ssim_denoised = value_label("ssimDenoisedLabel")
        self.psnr_denoised = value_label("psnrDenoisedLabel")
        self.ssim_delta = value_label("ssimDeltaLabel")
        self.psnr_delta = value_label("psnrDeltaLabel")
        rows = (("Noisy", self.ssim_noisy, self.psnr_noisy),
                ("Denoised", self.ssim_denoised, self.psnr_denoised),
                ("Gain", self.ssim_delta, self.psnr_delta))
        for r, (name, a, b) in enumerate(rows, start=1):
            grid.addWidget(QLabel(name), r, 0)
            grid.addWidget(a, r, 1)
            grid.addWidget(b, r, 2)
        self.scope_label = QLabel("This slice")
        self.scope_label.setStyleSheet(head)

        self.volume_label = QLabel("Whole volume: run Denoise volume")
        self.volume_label.setObjectName("volumeMetricsLabel")
        self.volume_label.setWordWrap(True)
        self.volume_label.setStyleSheet("color: #c8ccd0;")
        self.volume_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.mask_check = QCheckBox("Inside foreground mask only")
        self.mask_check.setObjectName("metricsMaskCheck")
        self.mask_check.setToolTip("Score only the tissue (Otsu mask of the ground truth):"
                                   " whole-image PSNR rewards a blank background")
        self.none_label = QLabel("No ground truth: open a clean volume, or attach a reference"
                                 " (File > Attach reference volume…)")
        self.none_label.setWordWrap(True)
        self.none_label.setStyleSheet("color: #a0a6ad;")
        self.none_label.hide()

        layout = QVBoxLayout(self)
        layout.addWidget(self.scope_label)
        self._table = QWidget()
        self._table.setLayout(grid)
        grid.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._table)
        layout.addWidget(self.none_label)
        layout.addWidget(self.mask_check)
        layout.addWidget(self.volume_label)
        self.mask_check.toggled.connect(self.maskChanged)

    def set_available(self, available: bool) -> None:
        """Hide the numbers that need a ground truth when there is none."""
        self._table.setVisible(available)
        self.mask_check.setVisible(available)
        self.volume_label.setVisible(available)
        self.scope_label.setVisible(available)
        self.none_label.setVisible(not available)

    def set_slice_metrics(self, noisy: dict | None, denoised: dict | None) -> None:
        noisy = noisy or {}
        denoised = denoised or {}
        self.ssim_noisy.setText(_fmt_ssim(noisy.get("ssim")))
        self.psnr_noisy.setText(_fmt_psnr(noisy.get("psnr")))
        self.ssim_denoised.setText(_fmt_ssim(denoised.get("ssim")))
        self.psnr_denoised.setText(_fmt_psnr(denoised.get("psnr")))
        ds = dp = None
        if noisy and denoised:
            ds = denoised["ssim"] - noisy["ssim"]
            dp = denoised["psnr"] - noisy["psnr"]
        self.ssim_delta.setText(_fmt_delta(ds))
        self.psnr_delta.setText(_fmt_delta(dp, " dB", 2))
        for label, v in ((self.ssim_delta, ds), (self.psnr_delta, dp)):
            color = "" if v is None or not math.isfinite(v) else ("#7fd17f" if v >= 0 else "#ff8a80")
            label.setStyleSheet(f"color: {color}; font-weight: bold;" if color else "")

    def set_volume_text(self, text: str) -> None:
        self.volume_label.setText(text)

    def set_mask(self, on: bool) -> None:
        with QSignalBlocker(self.mask_check):
            self.mask_check.setChecked(bool(on))


STRENGTH_TIP = ("Denoising strength: scales the noise level the network is told (1 = as trained). Below 1 it "
                "keeps more fine detail and leaves more noise; above 1 it smooths more. Turn it down when the "
                "residual shows anatomy. Only for models with a noise-level input, such as the default.")


class ModelPanel(QGroupBox):
    """Which model denoises, where it runs, what it was trained on, and how strongly it denoises."""

    strengthEdited = pyqtSignal(float)
    notice = pyqtSignal(str)  # something the user should read (a typed strength was clamped)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Model", parent)
        self.name_label = QLabel("No model")
        self.name_label.setObjectName("modelNameLabel")
        self.name_label.setStyleSheet("font-weight: bold;")
        self.name_label.setWordWrap(True)
        self.summary_label = QLabel("")
        self.summary_label.setObjectName("modelSummaryLabel")
        self.summary_label.setWordWrap(True)
        self.summary_label.setStyleSheet("color: #a0a6ad;")
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        from mri_denoise_gui.ml.training_choices import STRENGTH_RANGE  # TF-free

        self.strength_spin = ClampingSpinBox()
        self.strength_spin.setObjectName("strengthSpin")
        self.strength_spin.setRange(*STRENGTH_RANGE)
        self.strength_spin.setSingleStep(0.05)
        self.strength_spin.setDecimals(2)
        self.strength_spin.setValue(1.0)
        self.strength_spin.setKeyboardTracking(False)  # one change per finished edit, not per digit
        self.strength_spin.setToolTip(STRENGTH_TIP)
        self.strength_spin.valueChanged.connect(lambda v: self.strengthEdited.emit(float(v)))
        self.strength_spin.clamped.connect(
            lambda typed, used: self.notice.emit(f"Strength {typed:g} is out of range ({STRENGTH_RANGE[0]:g} to "
                                                 f"{STRENGTH_RANGE[1]:g}): set to {used:g}"))
        row = QHBoxLayout()
        label = QLabel("Strength")
        label.setToolTip(STRENGTH_TIP)
        row.addWidget(label)
        row.addWidget(self.strength_spin, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.name_label)
        layout.addWidget(self.summary_label)
        layout.addLayout(row)

    def set_model(self, name: str, summary: str, tooltip: str = "") -> None:
        self.name_label.setText(name)
        self.summary_label.setText(summary)
        self.setToolTip(tooltip)

    def set_strength(self, value: float, adjustable: bool) -> None:
        """Show ``value`` without emitting strengthEdited; greyed out for a model without the input."""
        with QSignalBlocker(self.strength_spin):
            self.strength_spin.setValue(float(value))
        self.strength_spin.setEnabled(bool(adjustable))
        self.strength_spin.setToolTip(STRENGTH_TIP if adjustable else
                                      "This model has no noise-level input: its strength is fixed.")


class VolumeJobPanel(QGroupBox):
    """Denoise the whole volume, with progress and Cancel."""

    denoiseRequested = pyqtSignal()
    cancelRequested = pyqtSignal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Whole volume", parent)
        self.button = QPushButton("Denoise volume")
        self.button.setObjectName("denoiseVolumeButton")
        self.button.setToolTip("Denoise every slice (needed for whole-volume metrics and export)")
        self.progress = QProgressBar()
        self.progress.setObjectName("progressBar")
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.cancel = QPushButton("Cancel")
        self.cancel.setObjectName("cancelButton")
        self.cancel.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(self.button)
        layout.addLayout(row)
        self.button.clicked.connect(self.denoiseRequested)
        self.cancel.clicked.connect(self.cancelRequested)

    def set_running(self, running: bool, text: str = "") -> None:
        self.button.setEnabled(not running)
        self.cancel.setEnabled(running)
        if running:
            self.progress.setValue(0)
            self.progress.setFormat(text or "%p %")
        elif text:
            self.progress.setFormat(text)

    def reset(self) -> None:
        """Empty bar, nothing to cancel (the window decides whether the button is enabled)."""
        self.cancel.setEnabled(False)
        self.progress.setFormat("")
        self.progress.setValue(0)

    def clear_done(self) -> None:
        """Forget a finished job's "Done" (and its full bar) once it no longer holds."""
        if self.progress.format() == DONE:
            self.reset()

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setValue(int(100 * done / max(total, 1)))
        self.progress.setFormat(f"{done} / {total} slices")
