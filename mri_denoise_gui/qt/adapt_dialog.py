"""Model > Adapt to this scan...: fine-tune the window's model on the open noisy volume, self-supervised.

Why it looks like the training dialog: it is a training run (live curves of the self-supervised
loss and its held-out value, progress, cancel) with its own few settings (method, time budget,
sigma) and a verdict at the end: the guard of `ml.adapt` says which model won and by how much,
and *Use this model* loads the adapted one into the window. It runs in the adaptation worker's own
thread (`qt.adapt_worker`, the training worker's machinery), so the user keeps scrubbing.

What it adapts to: the noisy scan as opened (its file), or the simulated noisy volume, written
to a temporary folder the app owns (removed when the app quits, like an adapted model that the
user gave no folder for). A folder the user picks is never replaced unless it is empty or a
model folder this app wrote.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QApplication, QComboBox, QDialog, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
    QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

from mri_denoise_gui.core.outputs import nifti_stem
from mri_denoise_gui.core.rician import NOISE_MODELS
from mri_denoise_gui.ml.adapt_data import METHOD_NAMES, METHODS
from mri_denoise_gui.ml.output_folder import replace_problem
from mri_denoise_gui.qt.adapt_report import app_temp_dir, epoch_line, verdict_text, write_simulated
from mri_denoise_gui.qt.adapt_worker import AdaptController
from mri_denoise_gui.qt.config_editors import make_buttons
from mri_denoise_gui.qt.messages import open_box
from mri_denoise_gui.qt.training_progress import TrainingProgressPanel
from mri_denoise_gui.qt.training_report import format_duration
from mri_denoise_gui.viewer.noref_figures import scan_sigma
from mri_denoise_gui.viewer.state import MODE_NOISY

NOISE_TIPS = {"rician": "Magnitude MRI (a real scan): the noise floor over dark tissue is not taken as signal",
              "gaussian": "Zero-mean noise, as the app's simulated Gaussian, localvar, speckle or Poisson noise"}
STEPS_PER_EPOCH = 50  # ml.adapt.AdaptConfig.steps_per_epoch: one epoch of the progress bars


class AdaptDialog(QDialog):
    """Non-modal; `useModelRequested(folder)` when the user picks the adapted model."""

    useModelRequested = pyqtSignal(str)
    adaptFinished = pyqtSignal(object)  # result dict (adapt_worker.adapt_result_to_dict)
    adaptFailed = pyqtSignal(str, str)
    sigmaEstimated = pyqtSignal(float)

    def __init__(self, window, parent: QWidget | None = None):
        super().__init__(parent if parent is not None else window)
        self.setObjectName("adaptDialog")
        self.setWindowTitle("Adapt the model to this scan")
        self.setModal(False)
        self.window_ = window
        self.worker_ready = False
        self.result: dict | None = None
        self.sigma_estimate: float | None = None
        self._sigma_edited = False
        self._boxes: list = []
        self._run_started = 0.0
        self._close_when_done = False
        self.controller = AdaptController(self)
        for name, slot in (("ready", self._on_ready), ("prepareFailed", self._on_failed),
                           ("progress", self._on_progress), ("log", self._log), ("finished", self._on_finished),
                           ("failed", self._on_failed)):
            getattr(self.controller, name).connect(slot)
        self._build_ui()
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._on_app_about_to_quit)
        self.refresh_context()
        self.controller.ensure_thread()  # TensorFlow loads in the adaptation thread now

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        self.context_label = QLabel()
        self.context_label.setObjectName("adaptContextLabel")
        self.context_label.setWordWrap(True)
        self.method_combo = _choice_combo("adaptMethodCombo", METHODS, METHOD_NAMES)
        self.noise_combo = _choice_combo("adaptNoiseCombo", NOISE_MODELS, NOISE_TIPS)
        self.noise_combo.setToolTip("The scan's noise; set from the volume when the dialog opens")
        self.minutes_spin = QDoubleSpinBox(decimals=1, minimum=0.1, maximum=600.0, value=0.5, suffix=" min")
        self.minutes_spin.setObjectName("adaptMinutesSpin")
        self.minutes_spin.setToolTip("Training time budget; the guard's scoring comes on top")
        self.steps_spin = QSpinBox(minimum=1, maximum=100_000, value=1200)
        self.steps_spin.setObjectName("adaptStepsSpin")
        self.steps_spin.setToolTip("At most this many training steps (whichever ends first: steps or time)")
        self.sigma_spin = QDoubleSpinBox(decimals=4, minimum=0.0001, maximum=0.99, singleStep=0.001)
        self.sigma_spin.setObjectName("adaptSigmaSpin")
        self.sigma_spin.setToolTip("Noise σ as a fraction of the normalised range, estimated in the tissue; "
                                   "edit it if you know better")
        self.sigma_spin.valueChanged.connect(self._on_sigma_edited)
        self.sigma_note = QLabel("estimating…")
        self.out_edit = QLineEdit()
        self.out_edit.setObjectName("adaptOutEdit")
        self.out_edit.setPlaceholderText("temporary (removed on quit)")
        self.out_edit.setToolTip("Empty: a temporary folder the app removes when it quits. A folder you pick is "
                                 "written only if it is empty or a model folder this app wrote.")
        self.out_edit.textChanged.connect(lambda _text: self._update_state())
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        sigma_row, out_row = QHBoxLayout(), QHBoxLayout()
        sigma_row.addWidget(self.sigma_spin, 1)
        sigma_row.addWidget(self.sigma_note)
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(browse)
        form = QFormLayout()
        form.addRow(self.context_label)
        form.addRow("Method", self.method_combo)
        form.addRow("Time budget", self.minutes_spin)
        form.addRow("Max steps", self.steps_spin)
        form.addRow("Noise", self.noise_combo)
        form.addRow("Noise σ", sigma_row)
        form.addRow("Save adapted model in", out_row)
        settings_box = QGroupBox("Adaptation")
        settings_box.setLayout(form)
        settings_box.setMinimumWidth(400)

        self.panel = TrainingProgressPanel()
        self.panel.epoch_line = epoch_line
        self.panel.curves.ssim_plot.hide()  # no reference: only the self-supervised loss has a curve
        self.panel.curves.psnr_plot.hide()
        self.panel.curves.loss_plot.setTitle("Self-supervised loss (held-out: masked validation)",
                                             color="#cfd3d8", size="10pt")
        self.panel.plan_label.setText("Loading TensorFlow in the adaptation worker…")
        self.result_label = self.panel.result_label
        body = QHBoxLayout()
        body.addWidget(settings_box)
        body.addWidget(self.panel, 1)
        self.status_label = QLabel()
        buttons = QHBoxLayout()
        buttons.addWidget(self.status_label, 1)
        for button in make_buttons(
                self, ("start_button", "Start adapting", "startAdaptButton", self.start),
                ("cancel_button", "Cancel", "cancelAdaptButton", self.cancel),
                ("use_button", "Use this model", "useAdaptedButton", self._on_use_clicked),
                ("close_button", "Close", "closeAdaptButton", self.close)):
            button.setAutoDefault(False)
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addLayout(buttons)
        self.resize(1080, 620)
        self._update_state()

    # ------------------------------------------------------------------ context and settings
    def refresh_context(self) -> None:
        """The window's volume and model, and a fresh σ estimate of the volume (in the job runner).
        A run in progress keeps describing what it adapts (it read the volume when it started)."""
        if self.is_running():
            return
        data, model = self.window_.data, self.window_.model
        what = "no volume open"
        if data is not None:
            kind = "noisy scan" if data.mode == MODE_NOISY else "simulated noisy volume"
            name = data.volume.path.name if data.volume.path is not None else "volume"
            what = f"{name} ({kind})"
            self.noise_combo.setCurrentIndex(self.noise_combo.findData(noise_model(data, self.window_.session)))
        self.context_label.setText(f"Adapts <b>{(model or {}).get('name', 'no model loaded')}</b> to {what}.")
        if data is not None and data.noisy01 is not None:
            self._estimate_sigma(data)
        self._update_state()

    def _estimate_sigma(self, data) -> None:
        noisy, axis = data.noisy01, self._axis()
        raw = data.volume.data if data.mode == MODE_NOISY else None
        scale = float(data.normalizer.scale)
        self.sigma_note.setText("estimating…")
        self.window_.tasks.run("adapt sigma", lambda state: scan_sigma(noisy, axis, raw, scale),
                               self._on_sigma_estimated,
                               lambda reason, details: self.sigma_note.setText(f"not estimated: {reason}"))

    def _on_sigma_estimated(self, sigma: float) -> None:
        self.sigma_estimate = float(sigma)
        self.sigma_spin.blockSignals(True)
        self.sigma_spin.setValue(max(self.sigma_estimate, self.sigma_spin.minimum()))
        self.sigma_spin.blockSignals(False)
        self._sigma_edited = False
        self.sigma_note.setText("estimated")
        self.sigmaEstimated.emit(self.sigma_estimate)
        self._update_state()

    def _on_sigma_edited(self, _value: float) -> None:
        self._sigma_edited = True
        self.sigma_note.setText("edited")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the adapted model", str(Path.home()))
        if folder:
            self.out_edit.setText(folder)

    def _axis(self) -> int:
        data = self.window_.data
        return int(data.geometry(self.window_.session.axis).file_axis) if data is not None else 2

    def problem(self) -> str | None:
        """Why adapting cannot start now (None when it can)."""
        data, model = self.window_.data, self.window_.model
        if data is None or data.noisy01 is None:
            return "open a volume first"
        if model is None or not model.get("folder"):
            return "load a model first (it is the starting point)"
        out = self.out_edit.text().strip()
        if out:
            target = Path(out).expanduser()
            if target.resolve() == Path(model["folder"]).resolve():
                return "the output folder is the starting model's: choose another"
            why = replace_problem(target)
            if why:
                return f"{target} {why}"
        if not self.worker_ready:
            return "TensorFlow is loading…"
        return None

    def _update_state(self) -> None:
        running = self.is_running()
        problem = self.problem()
        self.start_button.setEnabled(not running and problem is None)
        self.cancel_button.setEnabled(running)
        folder = (self.result or {}).get("folder")
        self.use_button.setEnabled(not running and bool(folder) and Path(folder).is_dir())
        for w in (self.method_combo, self.noise_combo, self.minutes_spin, self.steps_spin, self.sigma_spin,
                  self.out_edit):
            w.setEnabled(not running)
        self.status_label.setText("Adapting… you can keep working in the main window" if running else
                                  (problem or "Ready"))

    # ------------------------------------------------------------------ the run
    def is_running(self) -> bool:
        return self.controller.is_training()

    is_training = is_running  # what the main window asks before closing

    def _input_file(self, data) -> tuple[str, int]:
        """The noisy scan's own file, or the simulated noisy volume written to a temporary one."""
        if data.mode == MODE_NOISY and data.volume.path is not None and Path(data.volume.path).is_file():
            return str(data.volume.path), int(data.volume.volume_index)
        return write_simulated(data.noisy01, data.volume.affine), 0

    def config(self) -> dict:
        """The `ml.adapt.AdaptConfig` fields of the next run."""
        data, model = self.window_.data, self.window_.model
        path, volume_index = self._input_file(data)
        out = self.out_edit.text().strip()
        stem = (nifti_stem(data.volume.path) if data.volume.path is not None else "scan") or "scan"
        target = Path(out).expanduser() if out else app_temp_dir() / f"{stem}_adapted"
        return {"files": [path], "volume_index": volume_index, "out": str(target), "init_from": model["folder"],
                "method": self.method_combo.currentData(), "minutes": float(self.minutes_spin.value()),
                "max_steps": int(self.steps_spin.value()), "axis": self._axis(),
                "noise": self.noise_combo.currentData(),
                "sigma": float(self.sigma_spin.value()) if self._sigma_edited else None}

    def start(self) -> bool:
        """Start adapting with the settings shown; False (with the reason in the status line) if not."""
        self._update_state()
        if self.is_running() or self.problem() is not None:
            return False
        config = self.config()
        self.result = None
        self._run_started = time.time()
        epochs = max(1, math.ceil(config["max_steps"] / STEPS_PER_EPOCH))
        self.panel.begin_run({"epochs": epochs, "steps_per_epoch": STEPS_PER_EPOCH, "out": config["out"],
                              "arch": f"adapt {(self.window_.model or {}).get('name')} ({config['method']})"})
        self.panel.plan_label.setText(
            f"Fine-tunes on patches of the scan for at most {config['minutes']:g} min or {config['max_steps']} steps, "
            "scores held-out slices without a reference, and keeps the adapted weights only if they win.")
        self.controller.start(config)
        self._update_state()
        return True

    def cancel(self) -> None:
        if self.is_running():
            self.controller.cancel()
            self.cancel_button.setEnabled(False)
            self.panel.time_label.setText("Cancelling after this batch…")

    def cancel_and_wait(self, timeout_ms: int = 10_000) -> bool:
        """Stop a run and the thread, blocking (for closing the main window); True if in time."""
        self.controller.cancel()
        idle = self.controller.wait_idle(timeout_ms)
        if idle:
            self.controller.running = False
        return self.controller.shutdown(timeout_ms) and idle

    def _on_ready(self, info: dict) -> None:
        self.worker_ready = True
        self._log(f"Adaptation worker ready on {info.get('device', '?')}")
        if not self.is_running() and self.result is None:
            self.panel.plan_label.setText("Ready: press Start adapting.")
        self._update_state()

    def _on_progress(self, event: dict) -> None:
        self.panel.show_progress(event)

    def _on_finished(self, result: dict) -> None:
        self.result = dict(result)
        self.controller.running = False
        self.result_label.setText(verdict_text(result))
        self.result_label.setVisible(True)
        self.panel.time_label.setText("Cancelled" if result.get("cancelled") else
                                      f"Done in {format_duration(time.time() - self._run_started)}")
        self._log(("Kept the adapted model in " + str(result["folder"])) if result.get("folder") else
                  "No adapted model written")
        self._update_state()
        self.adaptFinished.emit(dict(result))
        if self._close_when_done:
            self.close()

    def _on_failed(self, reason: str, details: str) -> None:
        self.controller.running = False
        self.panel.show_failure(reason)
        self._update_state()
        self.adaptFailed.emit(reason, details)
        open_box(self, self._boxes, "adaptErrorBox", "Adapting failed", reason, details=details)

    def _on_use_clicked(self) -> None:
        folder = (self.result or {}).get("folder")
        if folder:
            self._log(f"Using {folder} in the main window")
            self.useModelRequested.emit(folder)

    def _log(self, text: str) -> None:
        self.panel.append_log(text)

    # ------------------------------------------------------------------ closing
    def _on_app_about_to_quit(self) -> None:
        try:
            self.cancel_and_wait(60_000)
        except RuntimeError:  # the dialog is already gone
            pass

    def _defer_close(self) -> bool:
        """While adapting, closing cancels the run (nothing is written) and closes at its end."""
        if not self.is_running():
            return False
        self._close_when_done = True
        self.cancel()
        return True

    def closeEvent(self, event) -> None:
        if self._defer_close():
            event.ignore()
            return
        super().closeEvent(event)

    def reject(self) -> None:
        if not self._defer_close():
            super().reject()

    def done(self, code: int) -> None:
        self._close_when_done = False
        for box in list(self._boxes):
            box.close()
        self.controller.shutdown()
        super().done(code)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.controller.thread is None:  # shown again after a close
            self.worker_ready = False
            self.controller.ensure_thread()


def _choice_combo(name: str, keys, tips: dict) -> QComboBox:
    """A combo box of ``keys``, each with its one-line explanation as the item's tooltip."""
    combo = QComboBox()
    combo.setObjectName(name)
    for key in keys:
        combo.addItem(key, key)
        combo.setItemData(combo.count() - 1, tips[key], Qt.ItemDataRole.ToolTipRole)
    return combo


def noise_model(data, session) -> str:
    """The noise model for ``ml.adapt``: a scan opened as noisy is a magnitude image (Rician); a
    simulated noisy volume has the noise the app added."""
    if data.mode == MODE_NOISY:
        return "rician"
    return "rician" if session.noise.kind == "rician" else "gaussian"


def open_adapt_dialog(window) -> AdaptDialog:
    """The window's adaptation dialog (one per window); *Use this model* goes to `window.load_model`."""
    dialog = window.findChild(AdaptDialog, "adaptDialog")
    if dialog is None:
        dialog = AdaptDialog(window)
        dialog.useModelRequested.connect(window.load_model)
        for changed in (window.volumeLoaded, window.noiseApplied, window.modelReady):  # follow the window
            changed.connect(lambda *_: dialog.refresh_context())
    else:
        dialog.refresh_context()
    dialog.show()
    dialog.raise_()
    return dialog
