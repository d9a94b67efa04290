"""Quality without a reference: the panel shown for a real noisy scan with no ground truth, and its mixin.

Why: SSIM / PSNR need a clean image a real scan does not have. What can be known without one
comes from `core.noref` (via `viewer.noref_figures`): the noise sigma of the input and of the
output, and how much the removed part looks like noise rather than anatomy, per slice (a job
of the window's runner, latest wins, after the slice settles) and per volume (when a volume is
opened and again after "Denoise volume"). Each figure explains itself in a tooltip
(`core.noref.DESCRIPTIONS`). SURE needs the model run on perturbed inputs, which belongs to the
model's own thread, so it is asked of the inference worker (`run_with_model`): for the slice on
screen, and for a sample of slices once the volume is denoised (before that, an adapted model
shows its guard's value).
"""

from __future__ import annotations

import math

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QGridLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from mri_denoise_gui.core.noref import DESCRIPTIONS
from mri_denoise_gui.qt.tasks import JobRunner
from mri_denoise_gui.qt.inference_worker import InferenceController
from mri_denoise_gui.viewer.noref_figures import ROWS, slice_figures, sure_psnr, sure_sample, volume_figures
from mri_denoise_gui.viewer.session import ViewerSession
from mri_denoise_gui.viewer.state import file_order_slice

DASH = "—"
NAMES = {"sigma": "Noise σ in", "sigma_out": "Noise σ out", "residual_ratio": "Removed / σ",
         "residual_structure": "Removed ~ edges", "sure_mse": "SURE PSNR"}


def _fmt(key: str, value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    return f"{value:.2f} dB" if key == "sure_mse" else (f"{value:.4f}" if key.startswith("sigma") else f"{value:.2f}")


def adaptation_sure(model_info: dict | None) -> float | None:
    """The estimated tissue PSNR (SURE, held-out slices) an adapted model's guard recorded, if any."""
    guard = (((model_info or {}).get("info") or {}).get("adaptation") or {}).get("guard") or {}
    psnr = guard.get("estimated_psnr") or {}
    return psnr.get("adapted") if guard.get("kept") else psnr.get("start")


class NoRefPanel(QGroupBox):
    """Per-slice and whole-volume reference-free figures, each with its one-sentence tooltip."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Quality without a reference", parent)
        self.setObjectName("noRefPanel")
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        for c, text in enumerate(("", "Slice", "Volume")):
            head = QLabel(text)
            head.setStyleSheet("color: #a0a6ad;")
            grid.addWidget(head, 0, c, alignment=Qt.AlignmentFlag.AlignRight)
        self.name_labels: dict[str, QLabel] = {}
        self.slice_labels: dict[str, QLabel] = {}
        self.volume_labels: dict[str, QLabel] = {}
        for r, key in enumerate(ROWS + ("sure_mse",), start=1):
            tip = DESCRIPTIONS[key] + (" Volume: 16 slices across the scan after Denoise volume (before it, an "
                                       "adapted model's own estimate on its held-out slices)."
                                       if key == "sure_mse" else "")
            self.name_labels[key] = QLabel(NAMES[key])
            self.slice_labels[key] = QLabel(DASH)
            self.volume_labels[key] = QLabel(DASH)
            for c, label in enumerate((self.name_labels[key], self.slice_labels[key], self.volume_labels[key])):
                label.setToolTip(tip)
                if c:
                    label.setObjectName(f"noref_{key}_{'slice' if c == 1 else 'volume'}")
                    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                grid.addWidget(label, r, c)
        self.scope_label = QLabel("Estimated from the scan itself, inside its tissue")
        self.scope_label.setWordWrap(True)
        self.scope_label.setStyleSheet("color: #a0a6ad;")
        layout = QVBoxLayout(self)
        table = QWidget()
        table.setLayout(grid)
        grid.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(table)
        layout.addWidget(self.scope_label)

    def set_slice(self, figures: dict | None) -> None:
        for key in ROWS:
            self.slice_labels[key].setText(_fmt(key, (figures or {}).get(key)))

    def set_volume(self, figures: dict | None, text: str | None = None) -> None:
        for key in ROWS:
            self.volume_labels[key].setText(text if text and key == "sigma" else _fmt(key, (figures or {}).get(key)))

    def set_sure(self, psnr: float | None, which: str = "volume") -> None:
        labels = self.volume_labels if which == "volume" else self.slice_labels
        labels["sure_mse"].setText(_fmt("sure_mse", psnr))


class NoRefMixin:
    """The window's reference-free figures: a slice job after the slice settles, a volume job on changes."""

    session: ViewerSession
    tasks: JobRunner
    noref_panel: NoRefPanel
    current: dict
    noref_slice: dict | None
    noref_volume: dict | None
    noref_sure: dict
    norefSliceReady: pyqtSignal
    norefVolumeReady: pyqtSignal
    norefSureReady: pyqtSignal
    controller: InferenceController
    _closing: bool

    def _noref_wanted(self) -> bool:
        data = self.session.data
        return data is not None and not data.has_truth and data.noisy01 is not None and not self._closing

    def _noref_slice_key(self) -> tuple:
        return (self.session.axis, self.session.index, self.session.generation,
                self.current.get("denoised") is not None)

    def update_noref_slice(self, wait: bool = False) -> None:
        """The figures of the slice on screen, off the GUI thread (the newest request wins)."""
        self.noref_slice, self.noref_sure["slice"] = None, None
        self.noref_panel.set_sure(None, "slice")
        if not self._noref_wanted() or self.current.get("noisy") is None:
            self.noref_panel.set_slice(None)
            return
        noisy, den, key = self.current["noisy"], self.current.get("denoised"), self._noref_slice_key()
        data, geom, index = self.session.data, self.session.data.geometry(self.session.axis), self.session.index

        def done(figures: dict) -> None:
            if key == self._noref_slice_key():
                self.noref_slice = figures
                self.noref_panel.set_slice(figures)
                self.norefSliceReady.emit(figures)
                if den is not None:  # the file-order slice, as the model sees it
                    self._request_sure("slice", file_order_slice(data.noisy01, geom, index)[None],
                                       figures.get("sigma"), key)

        if wait:
            done(slice_figures(noisy, den))
        else:
            self.tasks.run("noref slice", lambda state: slice_figures(noisy, den), done,
                           lambda r, d: self.statusBar().showMessage(f"Reference-free figures failed: {r}", 8000))

    def update_noref_volume(self) -> None:
        """Whole-volume figures: of the input alone, or with the denoised volume once it is there."""
        self.noref_volume, self.noref_sure["volume"] = None, None
        self.noref_panel.set_sure(adaptation_sure(self.session.model))
        if not self._noref_wanted():
            self.tasks.cancel("noref volume")
            self.noref_panel.set_volume(None)
            return
        data, generation = self.session.data, self.session.generation
        den = data.denoised01 if self.session.volume_is_denoised() else None
        axis = self.session.denoised_axis if den is not None and self.session.denoised_axis is not None else 2
        self.noref_panel.set_volume(None, "…")
        input_key = (id(data), self.session.noise_token)  # the input's figures outlive a model change
        cached = getattr(self, "_noref_input", None)

        def done(figures: dict) -> None:
            if generation == self.session.generation and data is self.session.data:
                if den is None:
                    self._noref_input = (input_key, figures)
                self.noref_volume = figures
                self.noref_panel.set_volume(figures)
                self.norefVolumeReady.emit(figures)
                if den is not None:
                    self._request_sure("volume", sure_sample(data.noisy01, axis), figures.get("sigma"),
                                       generation)

        if den is None and cached is not None and cached[0] == input_key:
            self.tasks.cancel("noref volume")
            done(cached[1])
            return
        self.tasks.run("noref volume", lambda state: volume_figures(data.noisy01, den, axis), done,
                       lambda r, d: self.noref_panel.set_volume(None, "failed"))

    def _request_sure(self, which: str, stack, sigma: float | None, key) -> None:
        """SURE of the loaded model on ``stack``, in the inference thread; dropped if ``key`` went stale."""
        if self.session.model is None or sigma is None or not math.isfinite(sigma) or sigma <= 0:
            return
        request_id = self.controller.run_with_model(lambda denoiser: sure_psnr(stack, denoiser.denoise_slices01, sigma))
        self._sure_requests = {**getattr(self, "_sure_requests", {}), which: (request_id, key)}

    def _on_model_call_done(self, request_id: int, psnr) -> None:
        for which, (rid, key) in getattr(self, "_sure_requests", {}).items():
            current = self._noref_slice_key() if which == "slice" else self.session.generation
            if rid == request_id and key == current and self._noref_wanted():
                self.noref_sure[which] = psnr
                self.noref_panel.set_sure(psnr, which)
                self.norefSureReady.emit(which, psnr)
