"""Model > Train...: edit a `TrainingConfig`, see what will happen, train with live curves, use it.

Why it is built this way: the dialog owns one config dict (the model); the form only shows
and edits it, and `TrainingConfig.validate()` is the single judge of what may start. Training
runs in the dialog's own worker thread (`training_worker`), separate from the main window's
inference worker, so slices can still be scrubbed while it trains; TensorFlow is imported
in that thread only.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

from PyQt6.QtCore import QSettings, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import (
    QApplication,
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from mri_denoise_gui.qt.messages import open_box
from mri_denoise_gui.qt.training_form import MONITOR_LABELS, TrainingForm
from mri_denoise_gui.qt.training_plot import TrainingCurves
from mri_denoise_gui.qt.training_worker import TrainingController

SETTINGS_CONFIG = "training/config"
SETTINGS_GEOMETRY = "training/geometry"
PLAN_DELAY_MS = 600  # edits within this long share one plan (and one timing measurement)
LOG_LINES = 2000

#: What the form shows before the worker has imported ml/ and can say TrainingConfig's defaults.
FORM_DEFAULTS = {
    "data": [], "arch": "resunet", "init_from": None, "epochs": 20, "steps_per_epoch": 200,
    "batch_size": 16, "patch_size": 64, "learning_rate": 1e-3, "loss": "ssim_l1", "seed": 0,
    "noise_kind": "rician+gaussian", "variance_range": [1e-4, 1e-2], "val_fraction": 0.2,
    "central_fraction": 0.8, "all_axes": False, "out": "",
    "normalizer": {"method": "percentile", "low": 0.5, "high": 99.5}, "volume_index": 0, "lr_schedule": "plateau",
}


def format_duration(seconds: float | None) -> str:
    """'1:05:03', '4:07' or '12 s': short and unambiguous."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _num(value, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else "—"


def _gain(best: dict, noisy: dict, key: str, fmt: str) -> str:
    a, b = best.get(key), noisy.get(key)
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return "—"
    return format(a - b, "+" + fmt)


def default_output_folder() -> str:
    return str(Path.home() / "mri-denoise-models" / f"model-{datetime.now():%Y%m%d-%H%M}")


def describe_plan(plan: dict, config: dict) -> str:
    """The "what will happen" summary as HTML."""
    train, val = plan.get("train", {}), plan.get("validation", {})
    slices = plan.get("slices") or {}

    def side(name: str, info: dict, n_slices) -> str:
        v = info.get("volumes", 0)
        text = f"<b>{name}</b>: {v} volume{'s' if v != 1 else ''}"
        if n_slices is not None:
            text += f", {n_slices:,} slices"
        return text

    split = {"slab": "one volume, split into slabs with a gap", "volume": "split by volume"}.get(
        plan.get("split"), str(plan.get("split", "")))
    if config.get("synthetic"):
        lines = [f"<b>Training</b>: synthetic contrasts from {slices.get('train', 0):,} MNI152 slices · "
                 f"<b>Validation</b>: {slices.get('validation', 0):,} other slices "
                 "<span style='color:#9aa0a8'>(the file list is not used)</span>"]
    else:
        lines = [f"{side('Training', train, slices.get('train'))} · "
                 f"{side('Validation', val, slices.get('validation'))} <span style='color:#9aa0a8'>({split})</span>"]
    epochs, steps, batch = config.get("epochs"), config.get("steps_per_epoch"), config.get("batch_size")
    patch = config.get("patch_size")
    lines.append(f"{epochs} epochs × {steps} steps × {batch} patches of {patch}×{patch} px "
                 f"= {plan.get('patches', 0):,} noisy patches, made on the fly")
    device = plan.get("device", "?")
    per_epoch = plan.get("seconds_per_epoch")
    if per_epoch is not None:
        total = per_epoch * (epochs or 0)
        lines.append(f"<b>Device</b>: {device} · about <b>{format_duration(per_epoch)}</b> per epoch "
                     f"(measured), {format_duration(total)} in total, plus loading the data")
    else:
        lines.append(f"<b>Device</b>: {device} · measuring the time per epoch…")
    start = f"fine-tunes <i>{Path(config['init_from']).name}</i>" if config.get("init_from") \
        else f"trains <i>{config.get('arch')}</i> from scratch"
    out = Path(str(config.get("out", "")))
    replace = " (replacing the model there)" if (out / "model.json").is_file() else ""
    monitor = MONITOR_LABELS.get(str(config.get("monitor", "val_loss")), str(config.get("monitor", "")))
    lines.append(f"Then {start}; the best model by {monitor} goes to <i>{out}</i>{replace}")
    return "<br>".join(lines)


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
        self.config_class = None  # ml.train.TrainingConfig, once the worker has imported it
        self.errors: dict = {"ml": "loading TensorFlow…"}
        self.plan: dict | None = None
        self.result: dict | None = None
        self.last_error: tuple[str, str] | None = None
        self.progress_events = 0
        self._run_started = 0.0
        self._run_config: dict | None = None
        self._t0: float | None = None
        self._rate_origin: tuple[float, int] | None = None  # (time, steps done) at the first batch
        self._message_boxes: list[QMessageBox] = []
        self._closing_after_cancel = False

        self.controller = TrainingController(self)
        w = self.controller
        w.ready.connect(self._on_worker_ready)
        w.prepareFailed.connect(self._on_prepare_failed)
        w.planned.connect(self._on_plan_ready)
        w.planFailed.connect(self._on_plan_failed)
        w.started.connect(self._on_training_started)
        w.progress.connect(self._on_training_progress)
        w.log.connect(self.append_log)
        w.finished.connect(self._on_training_finished)
        w.failed.connect(self._on_training_failed)

        self._build_ui()
        self.form.set_current_model(current_model_dir)
        self.form.set_current_volume(current_volume_path)
        self.config = self._restore_config()
        self.form.set_values(self.config)
        self.form.configChanged.connect(self._on_config_changed)
        self._plan_timer = QTimer(self, singleShot=True, interval=PLAN_DELAY_MS)
        self._plan_timer.timeout.connect(self._request_plan)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._on_app_about_to_quit)
        self._restore_geometry()
        self._update_state()
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

        plan_group = QGroupBox("What will happen")
        self.plan_label = QLabel("Loading TensorFlow in the training worker…")
        self.plan_label.setObjectName("planLabel")
        self.plan_label.setWordWrap(True)
        self.plan_label.setTextFormat(Qt.TextFormat.RichText)
        self.plan_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plan_label.setMinimumHeight(64)
        QVBoxLayout(plan_group).addWidget(self.plan_label)

        progress_group = QGroupBox("Progress")
        self.epoch_bar = QProgressBar()
        self.epoch_bar.setObjectName("epochProgress")
        self.epoch_bar.setFormat("Epoch %v / %m")
        self.batch_bar = QProgressBar()
        self.batch_bar.setObjectName("batchProgress")
        self.batch_bar.setFormat("Batch %v / %m")
        self.time_label = QLabel("Not started")
        self.time_label.setObjectName("timeRemainingLabel")
        self.time_label.setMinimumWidth(190)
        grid = QHBoxLayout(progress_group)
        bars = QVBoxLayout()
        bars.setSpacing(3)
        bars.addWidget(self.epoch_bar)
        bars.addWidget(self.batch_bar)
        grid.addLayout(bars, 1)
        grid.addWidget(self.time_label)

        self.curves = TrainingCurves()
        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("trainingLog")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_LINES)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        mono.setPointSize(9)
        self.log_view.setFont(mono)
        self.log_view.setPlaceholderText("Training log")

        split = QSplitter(Qt.Orientation.Vertical)
        split.setObjectName("trainingSplitter")
        split.addWidget(self.curves)
        split.addWidget(self.log_view)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        split.setSizes([420, 140])

        self.result_label = QLabel()
        self.result_label.setObjectName("resultLabel")
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.TextFormat.RichText)
        self.result_label.setVisible(False)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(plan_group)
        rv.addWidget(progress_group)
        rv.addWidget(split, 1)
        rv.addWidget(self.result_label)

        body = QHBoxLayout()
        body.addWidget(scroll)
        body.addWidget(right, 1)

        self.status_label = QLabel()
        self.status_label.setObjectName("trainingStatusLabel")
        self.status_label.setStyleSheet("color: #9aa0a8;")
        self.start_button = QPushButton("Start training")
        self.start_button.setObjectName("startTrainingButton")
        self.cancel_button = QPushButton("Cancel training")
        self.cancel_button.setObjectName("cancelTrainingButton")
        self.use_button = QPushButton("Use this model")
        self.use_button.setObjectName("useModelButton")
        self.close_button = QPushButton("Close")
        self.close_button.setObjectName("closeTrainingButton")
        buttons = QHBoxLayout()
        buttons.addWidget(self.status_label, 1)
        for b in (self.start_button, self.cancel_button, self.use_button, self.close_button):
            buttons.addWidget(b)
        self.start_button.clicked.connect(self.start_training)
        self.cancel_button.clicked.connect(self.cancel_training)
        self.use_button.clicked.connect(self._on_use_model_clicked)
        self.close_button.clicked.connect(self.close)

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
        config = dict(FORM_DEFAULTS)
        text = self.settings.value(SETTINGS_CONFIG, "", type=str)
        if text:
            try:
                saved = json.loads(text)
                if isinstance(saved, dict):
                    config.update({k: v for k, v in saved.items() if k in FORM_DEFAULTS or k not in config})
            except ValueError:
                pass
        if config.pop("fine_tune", False) and self.form.current_model_dir:
            config["init_from"] = self.form.current_model_dir
        else:
            config["init_from"] = None
        if not config.get("out"):
            config["out"] = default_output_folder()
        return config

    def _save_config(self) -> None:
        saved = {k: v for k, v in self.config.items() if k != "init_from"}
        saved["fine_tune"] = bool(self.config.get("init_from"))
        self.settings.setValue(SETTINGS_CONFIG, json.dumps(saved))

    def _restore_geometry(self) -> None:
        geometry = self.settings.value(SETTINGS_GEOMETRY)
        if geometry is not None:
            try:
                self.restoreGeometry(geometry)
            except TypeError:
                pass

    def config_for_training(self) -> dict:
        """The config dict handed to `TrainingConfig.from_dict` (dialog-only keys removed)."""
        names = self._config_fields()
        return {k: v for k, v in self.config.items() if names is None or k in names}

    def _config_fields(self) -> set[str] | None:
        if self.config_class is None:
            return None
        import dataclasses

        return {f.name for f in dataclasses.fields(self.config_class)}

    def _on_config_changed(self) -> None:
        self.config.update(self.form.values())
        self._save_config()
        self.validate()

    def validate(self) -> dict:
        """Ask `TrainingConfig.validate()` (plus the dialog's own safety checks) and show the reasons."""
        if self.config_class is None:
            self.errors = {"ml": "loading TensorFlow…"} if not self.last_error else {"ml": self.last_error[0]}
            self._update_state()
            return self.errors
        try:
            config = self.config_class.from_dict(self.config_for_training())
            errors = dict(config.validate())
        except (TypeError, ValueError) as exc:
            errors = {"config": str(exc)}
        errors.update({k: v for k, v in self._extra_checks().items() if k not in errors})
        self.errors = errors
        self.form.set_errors(errors)
        self._update_state()
        self.configValidated.emit(dict(errors))
        if errors:
            self._plan_timer.stop()
            self.plan = None
            self.plan_label.setText("Fix the marked settings to see what training will do.")
        elif not self.is_training():
            self.plan_label.setText(self.plan_label.text() if self.plan else "Planning…")
            self._plan_timer.start()
        return errors

    def _extra_checks(self) -> dict:
        """What `validate()` does not know: missing data paths. (The model folder is judged by
        `validate()` itself, through ml/output_folder.py, the same rule the command line uses.)"""
        errors = {}
        missing = [p for p in self.config.get("data") or [] if not Path(p).exists()]
        if missing:
            errors["data"] = "not found: " + ", ".join(Path(p).name for p in missing[:3])
        return errors

    def _update_state(self) -> None:
        training = self.is_training()
        ready = self.config_class is not None
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
        first = self.config_class is None
        self.config_class = info["config_class"]
        self.form.set_choices(info.get("architectures", []), info.get("losses", []), info.get("noise_kinds", []))
        if first:
            for key, value in self.config_class().to_dict().items():  # ml's defaults for the rest
                self.config.setdefault(key, value)
            self.form.set_values(self.config)
            self.config.update(self.form.values())
            self.append_log(f"Training worker ready on {info.get('device', '?')}")
        self.validate()

    def _on_prepare_failed(self, reason: str, details: str) -> None:
        self.last_error = (reason, details)
        self.plan_label.setText(f"The training worker could not start: {reason}")
        self.append_log(f"ERROR {reason}")
        self.validate()
        self._show_error("Training is not available", reason, details)

    def _request_plan(self) -> None:
        if self.errors or self.is_training() or self.config_class is None or not self.isVisible():
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
        if self.is_training() or self.config_class is None or self.validate():
            return False
        self._plan_timer.stop()
        self._run_config = self.config_for_training()
        self._run_started = time.time()
        self._t0 = None
        self._rate_origin = None
        self.result = None
        self.progress_events = 0
        self.curves.clear()
        self.result_label.setVisible(False)
        self.epoch_bar.setRange(0, int(self._run_config.get("epochs", 1)))
        self.epoch_bar.setValue(0)
        self.batch_bar.setRange(0, int(self._run_config.get("steps_per_epoch", 1)))
        self.batch_bar.setValue(0)
        self.time_label.setText("Preparing data…")
        self.append_log(f"Start: {self._run_config.get('arch')} → {self._run_config.get('out')}")
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
        kind = event.get("kind")
        epoch, epochs = int(event.get("epoch") or 0), int(event.get("epochs") or 1)
        batch, steps = int(event.get("batch") or 0), int(event.get("steps") or 1)
        logs = event.get("logs") or {}
        now = float(event.get("time", time.monotonic()))
        if kind == "train_begin":
            self._t0 = now
            self.epoch_bar.setRange(0, epochs)
            self.batch_bar.setRange(0, steps)
            replicas = int(event.get("replicas") or 1)
            self.append_log(f"Training: {epochs} epochs of {steps} batches"
                            + (f" on {replicas} replicas in sync" if replicas > 1 else ""))
            self.time_label.setText("Compiling the network…")
            self._noisy_reference(event)
        elif kind == "batch":
            self.epoch_bar.setValue(max(epoch - 1, 0))
            self.batch_bar.setValue(batch)
            self.curves.add_batch(epoch - 1 + batch / steps, logs.get("loss"))
        elif kind == "epoch":
            self.epoch_bar.setValue(epoch)
            self.batch_bar.setValue(steps)
            self.curves.add_epoch(epoch, logs)
            self.append_log(self._epoch_line(epoch, epochs, logs))
            self._noisy_reference(event)
        if self._t0 is not None and kind in ("batch", "epoch"):
            self.time_label.setText(self._time_text(now, (epoch - 1) * steps + batch, epochs * steps))

    def _time_text(self, now: float, done: int, total: int) -> str:
        """Elapsed and remaining time; the rate is measured from the first batch on, because
        the first one also pays for compiling the network and would inflate the estimate."""
        if self._rate_origin is None:
            self._rate_origin = (now, done)
        t1, d1 = self._rate_origin
        elapsed = format_duration(now - self._t0) if self._t0 is not None else "—"
        if done <= d1 or now <= t1:
            return f"Elapsed {elapsed}\nestimating time left…"
        left = (now - t1) / (done - d1) * (total - done)
        return f"Elapsed {elapsed}\nabout {format_duration(left)} left"

    @staticmethod
    def _epoch_line(epoch: int, epochs: int, logs: dict) -> str:
        def f(key, fmt):
            value = logs.get(key)
            return format(value, fmt) if isinstance(value, (int, float)) else "—"

        return (f"Epoch {epoch}/{epochs}: loss {f('loss', '.4f')}, val loss {f('val_loss', '.4f')}, "
                f"val SSIM {f('val_ssim_metric', '.4f')}, val PSNR {f('val_psnr_metric', '.2f')} dB")

    def _noisy_reference(self, event: dict) -> None:
        """The noisy input's validation metrics (from the event if ml sends them, else model.json);
        after an epoch, also say in the log when that epoch became the saved best model."""
        noisy = event.get("noisy_input") or (event.get("logs") or {}).get("noisy_input")
        meta = self._published_meta()
        if not isinstance(noisy, dict) and meta:
            noisy = (meta.get("validation") or {}).get("noisy_input")
        if isinstance(noisy, dict) and (noisy.get("ssim") is not None or noisy.get("psnr") is not None):
            self.curves.set_noisy_reference(noisy.get("ssim"), noisy.get("psnr"))
        epoch = event.get("epoch")
        if event.get("kind") == "epoch" and meta and (meta.get("validation") or {}).get("epoch") == epoch:
            self.append_log(f"Epoch {epoch} is the best so far: saved to {self._run_config.get('out')}")

    def _published_meta(self) -> dict | None:
        """model.json in the output folder, if this run wrote it (not a model from an earlier run)."""
        if not self._run_config:
            return None
        meta = Path(str(self._run_config.get("out"))) / "model.json"
        try:
            if meta.stat().st_mtime < self._run_started - 1:
                return None
            data = json.loads(meta.read_text())
            return data if isinstance(data, dict) else None
        except (OSError, ValueError):
            return None

    def _on_training_finished(self, result: dict) -> None:
        self.result = dict(result)
        best = result.get("best") or {}
        noisy = best.get("noisy_input") or {}
        if noisy:
            self.curves.set_noisy_reference(noisy.get("ssim"), noisy.get("psnr"))
        folder = result.get("folder")
        epochs = result.get("epochs_run", 0)
        if folder:
            text = (f"Best validation <b>SSIM {_num(best.get('ssim'), '.4f')}</b> "
                    f"(noisy input {_num(noisy.get('ssim'), '.4f')}, {_gain(best, noisy, 'ssim', '.4f')}) · "
                    f"<b>PSNR {_num(best.get('psnr'), '.2f')} dB</b> "
                    f"(noisy input {_num(noisy.get('psnr'), '.2f')} dB, {_gain(best, noisy, 'psnr', '.2f')} dB) "
                    f"at epoch {best.get('epoch', '?')} of {epochs} · saved in <i>{folder}</i>")
            if result.get("cancelled"):
                text = "Cancelled. The best model so far is kept. " + text
        elif result.get("cancelled"):
            text = "Cancelled before the first epoch finished: no model was saved."
        else:
            text = "Training ended without a usable checkpoint (no validation improvement)."
        self.result_label.setText(text)
        self.result_label.setVisible(True)
        self.time_label.setText("Cancelled" if result.get("cancelled") else
                                f"Done in {format_duration(time.time() - self._run_started)}")
        self.append_log(("Cancelled" if result.get("cancelled") else "Finished") +
                        f" after {epochs} epoch{'s' if epochs != 1 else ''}" +
                        (f"; model in {folder}" if folder else "; nothing saved"))
        self.controller.running = False
        self._update_state()
        self.validate()
        self.trainingFinished.emit(dict(result))
        if self._closing_after_cancel:
            self.close()

    def _on_training_failed(self, reason: str, details: str) -> None:
        self.last_error = (reason, details)
        self.result = None
        self.time_label.setText("Failed")
        self.result_label.setText(f"<span style='color:#ff8a80'>Training failed: {reason}</span>")
        self.result_label.setVisible(True)
        self.append_log(f"ERROR {reason}")
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
        self.log_view.appendPlainText(f"{datetime.now():%H:%M:%S}  {text}")

    def _show_error(self, title: str, reason: str, details: str = "") -> None:
        """A non-blocking message box (open(), never exec()), so nothing waits on it."""
        open_box(self, self._message_boxes, "trainingErrorBox", title, reason, details=details)

    def _ask_stop_and_close(self) -> None:
        box = open_box(self, self._message_boxes, "stopTrainingBox", "Training is running",
                       "Stop training and close? The best model so far stays in the output folder.",
                       icon=QMessageBox.Icon.Question,
                       buttons=QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, show=False)

        def answered(button):
            if box.standardButton(button) == QMessageBox.StandardButton.Yes:
                self._closing_after_cancel = True
                self.cancel_training()

        box.buttonClicked.connect(answered)
        box.open()

    def showEvent(self, event) -> None:
        """Shown again after a close: restart the worker thread (ml/ is already imported)."""
        super().showEvent(event)
        if self.controller.thread is None:
            self.controller.ensure_thread()
            if self.config_class is not None:
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
