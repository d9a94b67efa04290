"""Model and whole-volume work of the main window: load a model, denoise the volume, then export.

TensorFlow stays in the inference worker's thread (`InferenceController`); results land in
the `ViewerSession`. A mixin of `MainWindow`; what it uses of the window is declared below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QFileDialog, QLabel

from mri_denoise_gui.qt.controls import DONE, MetricsPanel, ModelPanel, VolumeJobPanel
from mri_denoise_gui.qt.inference_worker import InferenceController
from mri_denoise_gui.qt.messages import reported
from mri_denoise_gui.qt.tasks import JobRunner
from mri_denoise_gui.qt.model_info import model_summary
from mri_denoise_gui.viewer.compute import volume_metrics_text
from mri_denoise_gui.viewer.session import ViewerSession

STRENGTH_SETTING = "model/strength"


class ModelVolumeMixin:
    """Model loading, the whole-volume job and the pending export."""

    session: ViewerSession
    controller: InferenceController
    settings: QSettings
    model_panel: ModelPanel
    metrics_panel: MetricsPanel
    job_panel: VolumeJobPanel
    device_label: QLabel
    tasks: JobRunner
    panes: dict
    _volume_job: dict | None

    # ------------------------------------------------------------------------------------
    # Whole-volume denoising and export
    # ------------------------------------------------------------------------------------
    def _on_volume_metrics_changed(self, result: dict | None) -> None:
        if result is None:
            self.metrics_panel.set_volume_text("Whole volume: run Denoise volume")
            return
        self.metrics_panel.set_volume_text(volume_metrics_text(result))
        self.volumeMetricsReady.emit(result)

    def volume_is_denoised(self) -> bool:
        return self.session.volume_is_denoised()

    @reported("Could not denoise the volume")
    def denoise_volume(self) -> bool:
        data = self.session.data
        if data is None or data.noisy01 is None:
            self.show_error("Nothing to denoise", "open a volume first")
            return False
        if self.session.model is None:
            self.show_error("No model", "load a model first (Model › Load model…)")
            return False
        if self._volume_job is not None:
            return True
        if self.volume_is_denoised():
            self._on_volume_ready()
            return True
        axis = int(data.geometry(self.session.axis).file_axis)
        request_id = self.controller.denoise_volume(data.noisy01, axis)
        self._volume_job = {"id": request_id, "tokens": self.session.tokens(), "data": data, "axis": axis}
        self.job_panel.set_running(True, "Starting…")
        self._update_actions()
        self.statusBar().showMessage("Denoising the whole volume…")
        return True

    def cancel_volume(self) -> None:
        if self._volume_job is None:
            return
        self.controller.cancel_volume()
        self._volume_job = None
        self.session.pending_export = None
        self.job_panel.set_running(False, "Cancelled")
        self.job_panel.progress.setValue(0)
        self._update_actions()
        self.statusBar().showMessage("Volume denoising cancelled", 5000)

    def _on_volume_progress(self, request_id: int, done: int, total: int) -> None:
        if self._volume_job is not None and request_id == self._volume_job["id"]:
            self.job_panel.set_progress(done, total)

    def _on_volume_denoised(self, request_id: int, volume01: np.ndarray) -> None:
        job = self._volume_job
        if job is None or request_id != job["id"]:
            return
        self._volume_job = None
        if job["data"] is not self.session.data or not self.session.set_denoised_volume(
                volume01, job["tokens"], job["axis"]):
            self.job_panel.set_running(False, "Out of date")
            self._update_actions()
            return
        self.job_panel.set_running(False, DONE)
        self.job_panel.progress.setValue(100)
        self._update_actions()
        self.statusBar().showMessage("Whole volume denoised", 5000)
        self.refresh()
        self.volumeDenoised.emit()
        self._on_volume_ready()

    def _on_volume_ready(self) -> None:
        if self.session.data is not None and self.session.data.truth01 is not None and self.session.data.volume_metrics is None:
            self._compute_volume_metrics()
        if self.session.pending_export is not None:
            kind, path = self.session.pending_export
            self.session.pending_export = None
            self._write_export(kind, path)

    def _on_volume_cancelled(self, request_id: int) -> None:
        pass  # the GUI already reset itself in cancel_volume()

    def _on_volume_failed(self, request_id: int, reason: str, details: str) -> None:
        if self._volume_job is None or request_id != self._volume_job["id"]:
            return
        self._volume_job = None
        self.session.pending_export = None
        self.job_panel.set_running(False, "Failed")
        self._update_actions()
        self.show_error("Denoising the volume failed", reason, details)

    # ------------------------------------------------------------------------------------
    # Model
    # ------------------------------------------------------------------------------------
    def _on_load_model_triggered(self) -> None:
        start = str(self.settings.value("model/lastDir", str(Path.home())))
        folder = QFileDialog.getExistingDirectory(self, "Load model folder (model.keras + model.json)", start)
        if folder:
            self.remember("model/lastDir", str(Path(folder).parent))
            self.load_model(folder)

    def load_default_model(self) -> bool:
        from mri_denoise_gui.resources import default_model_dir

        return self._load_bundled(default_model_dir, "default")

    def load_seed_model(self) -> bool:
        from mri_denoise_gui.resources import seed_model_dir

        return self._load_bundled(seed_model_dir, "seed autoencoder")

    @reported("Could not load the model")
    def _load_bundled(self, where, label: str) -> bool:
        try:
            folder = where()
        except FileNotFoundError as exc:
            folder = None
            reason = str(exc)
        if folder is None or not (Path(folder) / "model.keras").exists():
            reason = f"the bundled {label} model is not there yet ({folder}); train it with `make train-default`" \
                if folder is not None else reason
            self.statusBar().showMessage(f"No {label} model: {reason}. Use Model › Load model…", 20_000)
            self.model_panel.set_model("No model", f"Bundled {label} model not found.\nModel › Load model… to pick one.")
            if self.session.data is not None:
                self.refresh()
            return False
        return self.load_model(folder)

    @reported("Could not load the model")
    def load_model(self, folder) -> bool:
        """Ask the worker to load a model folder (TensorFlow is imported there on first use)."""
        folder = Path(folder)
        self.session.model_loading = True
        self.model_panel.set_model(f"Loading {folder.name}…", str(folder))
        if self.session.model is None:
            self.panes["denoised"].show_message("Loading model…") if self.session.data is not None else None
        volume = self.session.data is not None or self.tasks.is_running("load")
        self.controller.load_model(str(folder), slices_wanted=volume)
        return True

    def _on_model_loaded(self, info: dict) -> None:
        self.session.set_model(info)
        self._announce_model(info, f"Model {info.get('name')} loaded on {info.get('device')} "
                                   f"({info.get('seconds', 0):.1f} s)")
        self.refresh()

    def _announce_model(self, info: dict, message: str) -> None:
        self._show_model_info(info)
        self.statusBar().showMessage(message, 8000)
        self._update_actions()
        self.modelReady.emit(info)

    def _show_model_info(self, info: dict) -> None:
        """Model panel and status-bar label: name, what it is, where and in which precision it runs."""
        summary, tooltip = model_summary(info.get("info", {}))
        first, *details = summary.splitlines()  # two lines in the panel (it sits at the top); the rest on hover
        self.model_panel.set_model(info.get("name", "model"), f"{first}\nRuns on {info.get('device', '?')}",
                                   "\n".join([*details, str(info.get("folder")), tooltip]))
        strength = float(info.get("strength", 1.0))
        at = "" if strength == 1.0 else f" · strength {strength:g}"
        self.device_label.setText(f"{info.get('name')} · {info.get('device', '?')}{at}")
        self._sync_strength(info)

    def _on_backend_changed(self, info: dict) -> None:
        """TensorFlow took over from the LiteRT bridge: same model, same results, new speed."""
        if self.session.model is None or info.get("folder") != self.session.model.get("folder"):
            return
        self.session.update_model_info(info)
        self._announce_model(info, f"Model {info.get('name')} on {info.get('device')} "
                                   f"(TensorFlow ready after {info.get('seconds', 0):.1f} s)")

    # -- denoising strength (ml/strength.py; QSettings "model/strength") ---------------------------
    def _init_strength(self) -> None:
        from mri_denoise_gui.ml.strength import check_strength  # TF-free

        try:
            self.controller.strength = check_strength(float(self.settings.value(STRENGTH_SETTING, 1.0)))
        except (TypeError, ValueError):  # a hand-edited or foreign settings file
            self.controller.strength = 1.0
        self.model_panel.set_strength(self.controller.strength, adjustable=False)  # until a model says
        self.strength_action.setEnabled(False)
        self.model_panel.strengthEdited.connect(self._on_strength_edited)
        self.model_panel.notice.connect(lambda text: self.statusBar().showMessage(text, 15_000))
        self.controller.worker.strengthChanged.connect(self._on_strength_changed)
        self.controller.worker.strengthFailed.connect(self._on_strength_failed)

    def set_strength(self, strength: float) -> None:
        """Denoise at ``strength`` (as if typed into the Model panel's box)."""
        self.model_panel.strength_spin.setValue(float(strength))

    def _ask_strength(self) -> None:
        from PyQt6.QtWidgets import QInputDialog

        from mri_denoise_gui.ml.training_choices import STRENGTH_RANGE

        spin = self.model_panel.strength_spin
        value, ok = QInputDialog.getDouble(self, "Denoising strength", "Strength (1 = as trained; lower keeps more "
                                           "fine detail, higher smooths more):", spin.value(), *STRENGTH_RANGE, 2)
        if ok:
            self.set_strength(value)

    def _on_strength_edited(self, strength: float) -> None:
        self.remember(STRENGTH_SETTING, float(strength))
        model = self.session.model
        if model is not None and model.get("strength_adjustable") and model.get("backend") == "tensorflow":
            self.statusBar().showMessage(f"Denoising strength {strength:g}…", 5000)
            self.controller.set_strength(strength)
        else:  # still loading (or on LiteRT): the model takes it once TensorFlow has it
            self.controller.strength = float(strength)

    def _sync_strength(self, info: dict) -> None:
        """Show the model's strength; ask again if it loaded with another one (while LiteRT bridged)."""
        adjustable = bool(info.get("strength_adjustable"))
        shown = float(info.get("strength", 1.0)) if adjustable else 1.0
        stale = adjustable and info.get("backend") == "tensorflow" and shown != self.controller.strength
        self.model_panel.set_strength(self.controller.strength if stale else shown, adjustable)
        self.strength_action.setEnabled(adjustable)
        if stale:
            self.controller.set_strength(self.controller.strength)

    def _on_strength_changed(self, info: dict) -> None:
        """The model denoises at a new strength: every denoised slice and volume is stale."""
        if self.session.model is None or info.get("folder") != self.session.model.get("folder"):
            return
        info = {**self.session.model, **info, "seconds": self.session.model.get("seconds", 0.0)}
        self.session.set_model(info)
        self._announce_model(info, f"Denoising strength {info.get('strength', 1.0):g}")
        self.refresh()

    def _on_strength_failed(self, reason: str) -> None:
        model = self.session.model or {}
        self.model_panel.set_strength(model.get("strength", 1.0), bool(model.get("strength_adjustable")))
        self.statusBar().showMessage(f"Could not change the strength: {reason}", 15_000)

    def _on_precision_changed(self, precision: str) -> None:
        self.controller.precision = precision
        if self.session.model is not None:
            self.load_model(self.session.model["folder"])

    def _on_model_failed(self, folder: str, reason: str, details: str) -> None:
        self.session.model_loading = False
        if self.session.model is not None and self.session.model.get("backend") == "litert" and self.session.model.get("folder") == folder:
            self.session.set_model(None)  # only its LiteRT copy had loaded; TensorFlow refused the model itself
        if self.session.model is None:
            self.model_panel.set_model("No model", f"Could not load {folder}")
            self.device_label.setText("")
            if self.session.data is not None:
                self.refresh()
        else:
            self.model_panel.set_model(self.session.model.get("name", "model"), self.model_panel.summary_label.text())
        self.modelFailed.emit(reason)
        self.show_error("Could not load the model", reason, details)
