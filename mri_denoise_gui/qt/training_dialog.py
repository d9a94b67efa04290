"""Model > Train...: edit a `TrainingConfig`, see what will happen, train with live curves, use it.

Why it is built this way: the dialog owns one config dict (the model); the form only shows
and edits it, and `TrainingConfig.validate()` (TF-free, ml/training_config.py) is the single
judge of what may start. Training runs in the dialog's own worker thread (`training_worker`),
separate from the main window's inference worker, so slices can still be scrubbed while it
trains; TensorFlow is imported in that thread only, and only dicts cross back (the plan, the
progress events, which say the best epoch, and the result).
"""

from __future__ import annotations

import time
from pathlib import Path

from PyQt6.QtCore import QSettings, Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import QApplication, QDialog, QHBoxLayout, QLabel, QMessageBox, QPushButton, QScrollArea, QVBoxLayout, QWidget

from mri_denoise_gui.ml.training_config import FIELD_NAMES, TrainingConfig
from mri_denoise_gui.qt.config_editors import make_buttons
from mri_denoise_gui.qt.messages import ask_stop_training, open_box
from mri_denoise_gui.qt.training_form import TrainingForm
from mri_denoise_gui.qt.training_progress import TrainingProgressPanel
from mri_denoise_gui.qt.training_report import (
    config_from_settings, describe_plan, format_duration, settings_from_config,
)
from mri_denoise_gui.qt.training_worker import TrainingController

__all__ = ["TrainingDialog", "describe_plan", "format_duration", "open_training_dialog"]

SETTINGS_CONFIG = "training/config"
SETTINGS_GEOMETRY = "training/geometry"
PLAN_DELAY_MS = 600  # edits within this long share one plan (and one timing measurement)


class TrainingDialog(QDialog):
    """Non-modal dialog; emits `useModelRequested(folder)` when the user picks the trained model."""

    useModelRequested = pyqtSignal(str)
    configValidated = pyqtSignal(object)  # dict field -> reason (empty when Start is allowed)
    planReady = pyqtSignal(object)
    trainingStarted = pyqtSignal()
    trainingFinished = pyqtSignal(object)  # result dict: folder, best, epochs_run, cancelled
    trainingFailed = pyqtSignal(str, str)

    def __init__(self, parent: QWidget | None = None, *, current_model_dir: str | Path | None = None,
                 current_volume_path: str | Path | None = None, settings: QSettings | None = None):
        super().__init__(parent)
        self.setObjectName("trainingDialog")
        self.setWindowTitle("Train a denoising model")
        self.setModal(False)
        self.setWindowFlag(Qt.WindowType.WindowMaximizeButtonHint, True)
        self.settings = settings if settings is not None else QSettings()
        self.worker_ready = False  # the worker has imported ml.train (TensorFlow): runs can start
        self.errors: dict = {}
        self.plan: dict | None = None
        self.result: dict | None = None
        self.last_error: tuple[str, str] | None = None
        self.progress_events = 0
        self._run_started = 0.0
        self._run_config: dict | None = None
        self._message_boxes: list[QMessageBox] = []
        self._closing_after_cancel = False

        self.controller = TrainingController(self)
        for signal, slot in (("ready", self._on_worker_ready), ("prepareFailed", self._on_prepare_failed),
                             ("planned", self._on_plan_ready), ("planFailed", self._on_plan_failed),
                             ("started", self._on_training_started), ("progress", self._on_training_progress),
                             ("log", self.append_log), ("finished", self._on_training_finished),
                             ("failed", self._on_training_failed)):
            getattr(self.controller, signal).connect(slot)

        self._build_ui()
        self.form.set_current_model(current_model_dir)
        self.form.set_current_volume(current_volume_path)
        self.config = self._restore_config()
        self.form.set_values(self.config)
        self.config.update(self.form.values())  # as the form holds them (lists, rounding)
        self.form.configChanged.connect(self._on_config_changed)
        self._plan_timer = QTimer(self, singleShot=True, interval=PLAN_DELAY_MS)
        self._plan_timer.timeout.connect(self._request_plan)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._on_app_about_to_quit)
        self._restore_geometry()
        self.validate()
        self.controller.ensure_thread()  # TensorFlow starts loading now, in the worker thread

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        self.form = TrainingForm()
        scroll = QScrollArea()
        scroll.setObjectName("trainingFormScroll")
        scroll.setWidget(self.form)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(410)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.panel = TrainingProgressPanel()
        for name in ("plan_label", "epoch_bar", "batch_bar", "time_label", "curves", "log_view", "result_label"):
            setattr(self, name, getattr(self.panel, name))  # what tests and the main window look at
        body = QHBoxLayout()
        body.addWidget(scroll)
        body.addWidget(self.panel, 1)

        self.status_label = QLabel()
        self.status_label.setObjectName("trainingStatusLabel")
        self.status_label.setStyleSheet("color: #9aa0a8;")
        buttons = QHBoxLayout()
        buttons.addWidget(self.status_label, 1)
        for button in make_buttons(
                self, ("start_button", "Start training", "startTrainingButton", self.start_training),
                ("cancel_button", "Cancel training", "cancelTrainingButton", self.cancel_training),
                ("use_button", "Use this model", "useModelButton", self._on_use_model_clicked),
                ("close_button", "Close", "closeTrainingButton", self.close)):
            buttons.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addLayout(buttons)
        for b in self.findChildren(QPushButton):  # Enter in a field must never start a long run
            b.setAutoDefault(False)
            b.setDefault(False)
        self.resize(1180, 740)

    # ------------------------------------------------------------------ context from the main window
    def set_current_model(self, folder: str | Path | None) -> None:
        """The model the main window uses (what "Fine-tune" starts from)."""
        self.form.set_current_model(folder)
        if not self.is_training():
            self._on_config_changed()

    def set_current_volume(self, path: str | Path | None, volume_index: int = 0) -> None:
        """The volume open in the main window (what "Open volume" adds to the data)."""
        self.form.set_current_volume(path, volume_index)

    # ------------------------------------------------------------------ config, validation, settings
    def _restore_config(self) -> dict:
        return config_from_settings(self.settings.value(SETTINGS_CONFIG, "", type=str), self.form.current_model_dir)

    def _save_config(self) -> None:
        self.settings.setValue(SETTINGS_CONFIG, settings_from_config(self.config))

    def _restore_geometry(self) -> None:
        geometry = self.settings.value(SETTINGS_GEOMETRY)
        if geometry is not None:
            try:
                self.restoreGeometry(geometry)
            except TypeError:
                pass

    def config_for_training(self) -> dict:
        """The config dict handed to `TrainingConfig.from_dict` (dialog-only keys removed)."""
        return {k: v for k, v in self.config.items() if k in FIELD_NAMES}

    def _on_config_changed(self) -> None:
        self.config.update(self.form.values())
        self._save_config()
        self.validate()

    def validate(self) -> dict:
        """Ask `TrainingConfig.validate()` (plus the dialog's own safety checks) and show the reasons."""
        try:
            config = TrainingConfig.from_dict(self.config_for_training())
            errors = dict(config.validate())
        except (TypeError, ValueError) as exc:
            errors = {"config": str(exc)}
        self.errors = errors
        self.form.set_errors(errors)
        self._update_state()
        self.configValidated.emit(dict(errors))
        if errors:
            self._plan_timer.stop()
            self.plan = None
            self.plan_label.setText("Fix the marked settings to see what training will do.")
        elif not self.worker_ready:
            self.plan_label.setText(f"The training worker could not start: {self.last_error[0]}" if self.last_error
                                    else "Loading TensorFlow in the training worker…")
        elif not self.is_training():
            self.plan_label.setText(self.plan_label.text() if self.plan else "Planning…")
            self._plan_timer.start()
        return errors

    def _update_state(self) -> None:
        training = self.is_training()
        ready = self.worker_ready
        self.start_button.setEnabled(ready and not self.errors and not training)
        self.cancel_button.setEnabled(training)
        folder = (self.result or {}).get("folder")
        self.use_button.setEnabled(bool(folder) and not training and Path(folder).is_dir())
        self.form.set_editable(not training)
        if training:
            self.status_label.setText("Training… you can keep working in the main window")
        elif not ready:
            self.status_label.setText(self.last_error[0] if self.last_error else "Loading TensorFlow…")
        elif self.errors:
            n = len(self.errors)
            self.status_label.setText(f"{n} setting{'s' if n != 1 else ''} to fix before training can start")
        else:
            self.status_label.setText("Ready")

    # ------------------------------------------------------------------ worker: ready, plan
    def _on_worker_ready(self, info: dict) -> None:
        if not self.worker_ready:
            self.append_log(f"Training worker ready on {info.get('device', '?')}")
        self.worker_ready = True
        self.last_error = None
        self.validate()

    def _on_prepare_failed(self, reason: str, details: str) -> None:
        self.last_error = (reason, details)
        self.append_log(f"ERROR {reason}")
        self.validate()
        self._show_error("Training is not available", reason, details)

    def _request_plan(self) -> None:
        if self.errors or self.is_training() or not self.worker_ready or not self.isVisible():
            return  # closed: a late timer must not restart the worker thread
        self.controller.request_plan(self.config_for_training(), measure=True)

    def _on_plan_ready(self, request_id: int, plan: dict) -> None:
        if request_id != self.controller.latest_plan_id:
            return  # a newer config is being planned
        self.plan = plan
        if not self.is_training():
            self.plan_label.setText(describe_plan(plan, self.config))
        self.planReady.emit(plan)

    def _on_plan_failed(self, request_id: int, reason: str, details: str) -> None:
        if request_id != self.controller.latest_plan_id:
            return
        self.plan = None
        self.plan_label.setText(f"<span style='color:#ff8a80'>Cannot plan this run: {reason}</span>")

    # ------------------------------------------------------------------ training
    def is_training(self) -> bool:
        """True from Start until the worker has reported the end of the run."""
        return self.controller.is_training()

    def start_training(self) -> bool:
        """Start a run with the current config (if it is valid); False if it did not start."""
        if self.is_training() or not self.worker_ready or self.validate():
            return False
        self._plan_timer.stop()
        self._run_config = self.config_for_training()
        self._run_started = time.time()
        self.result = None
        self.progress_events = 0
        self.panel.begin_run(self._run_config)
        self.controller.start(self._run_config)
        self._update_state()
        self.trainingStarted.emit()
        return True

    def cancel_training(self) -> None:
        """Ask the run to stop after the current batch; `trainingFinished` follows."""
        if self.is_training():
            self.controller.cancel()
            self.cancel_button.setEnabled(False)
            self.time_label.setText("Cancelling after this batch…")
            self.append_log("Cancel requested: stopping after the current batch")

    def cancel_and_wait(self, timeout_ms: int = 10000) -> bool:
        """Cancel a run and block until the worker has stopped (for closing the main window).

        Also stops the worker thread, so the dialog can be destroyed safely; it starts again
        on demand if the dialog is used afterwards. True if everything stopped in time.
        """
        self._plan_timer.stop()
        deadline = time.monotonic() + timeout_ms / 1000
        self.controller.cancel()
        stopped = self.controller.wait_idle(timeout_ms)
        if stopped:
            self.controller.running = False  # the end signal is still queued; the run is over
        remaining = max(0, int(1000 * (deadline - time.monotonic())))
        return self.controller.shutdown(max(remaining, 1)) and stopped

    def _on_training_started(self, config: dict) -> None:
        self.append_log("Preparing training data and network…")

    def _on_training_progress(self, event: dict) -> None:
        self.progress_events += 1
        self.panel.show_progress(event)

    def _on_training_finished(self, result: dict) -> None:
        self.result = dict(result)
        self.panel.show_result(result, self._run_started)
        self.controller.running = False
        self._update_state()
        self.validate()
        self.trainingFinished.emit(dict(result))
        if self._closing_after_cancel:
            self.close()

    def _on_training_failed(self, reason: str, details: str) -> None:
        self.last_error = (reason, details)
        self.result = None
        self.panel.show_failure(reason)
        self.controller.running = False
        self._update_state()
        self.validate()
        self.trainingFailed.emit(reason, details)
        self._show_error("Training failed", reason, details)

    def _on_use_model_clicked(self) -> None:
        folder = (self.result or {}).get("folder")
        if folder:
            self.append_log(f"Using {folder} in the main window")
            self.form.set_current_model(folder)
            self.useModelRequested.emit(str(folder))

    # ------------------------------------------------------------------ log, messages, closing
    def append_log(self, text: str) -> None:
        self.panel.append_log(text)

    def _show_error(self, title: str, reason: str, details: str = "") -> None:
        """A non-blocking message box (open(), never exec()), so nothing waits on it."""
        open_box(self, self._message_boxes, "trainingErrorBox", title, reason, details=details)

    def _ask_stop_and_close(self) -> None:
        ask_stop_training(self, "stopTrainingBox", "Stop training and close?", self._stop_and_close)

    def _stop_and_close(self) -> None:
        self._closing_after_cancel = True
        self.cancel_training()

    def showEvent(self, event) -> None:
        """Shown again after a close: restart the worker thread (ml/ is already imported)."""
        super().showEvent(event)
        if self.controller.thread is None:
            self.controller.ensure_thread()
            self.validate()

    def closeEvent(self, event) -> None:
        """While training, ask first (without blocking); otherwise close via `reject` -> `done`."""
        if self.is_training():
            event.ignore()
            self._ask_stop_and_close()
            return
        super().closeEvent(event)

    def reject(self) -> None:
        """Escape and the title-bar close: ask while training, else close."""
        if self.is_training():
            self._ask_stop_and_close()
            return
        super().reject()

    def done(self, result: int) -> None:
        """Every way of closing ends here: save settings, stop the idle worker thread."""
        self._closing_after_cancel = False
        self._plan_timer.stop()
        self._save_config()
        self.settings.setValue(SETTINGS_GEOMETRY, self.saveGeometry())
        for box in list(self._message_boxes):
            box.close()
        self.controller.shutdown()
        super().done(result)

    def _on_app_about_to_quit(self) -> None:
        try:
            self.cancel_and_wait()
        except RuntimeError:  # already deleted
            pass


def open_training_dialog(window=None) -> TrainingDialog:
    """Show the main window's training dialog (one per window), wired to its model and volume.

    Called by `MainWindow.open_training_dialog`; "Use this model" loads the trained model in the
    window's inference worker (`window.load_model`), which re-denoises the current slice.
    """
    dialog = window.findChild(TrainingDialog, "trainingDialog") if window is not None else None
    model_folder = ((getattr(window, "model", None) or {}).get("folder")) if window is not None else None
    data = getattr(window, "data", None)
    volume_path = getattr(getattr(data, "volume", None), "path", None)
    volume_index = int(getattr(getattr(data, "volume", None), "volume_index", 0) or 0)
    if dialog is None:
        dialog = TrainingDialog(window, current_model_dir=model_folder, current_volume_path=volume_path,
                                settings=getattr(window, "settings", None))
        if window is not None and hasattr(window, "load_model"):
            dialog.useModelRequested.connect(window.load_model)
        ready = getattr(window, "modelReady", None)
        if ready is not None:
            ready.connect(lambda info, d=dialog: d.set_current_model((info or {}).get("folder")))
    elif not dialog.is_training():
        dialog.set_current_model(model_folder)
    dialog.set_current_volume(volume_path, volume_index)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
