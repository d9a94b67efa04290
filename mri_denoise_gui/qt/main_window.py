"""The main window: layout, menus and wiring of three linked panes, scrubber, noise, metrics, model.

State lives in the Qt-free `viewer.session.ViewerSession` (`self.session`), background work in
the job runner (`self.tasks`) and the inference worker (`self.controller`). The behaviour is in
mixins, each declaring what it uses of the window: `FileActionsMixin` (open, attach, export),
`SliceDisplayMixin` (panes, residual, cursor), `NoiseMetricsMixin` (noise, SSIM / PSNR),
`ModelVolumeMixin` (model, whole volume), `SettingsMixin` (QSettings), and for comparing methods
`ComparisonMixin` (method panes, per-method table, error map), `ComparisonToolsMixin` (menus,
screenshot, residual / error export), `RoiMixin` (ROI statistics, profiles), `OrthoMixin`
(orthogonal views). Message boxes never block
(`show_error` opens them window-modal and returns), so tests and the --screenshot run can't hang.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QSettings, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QLabel, QMainWindow, QMessageBox, QScrollArea, QSplitter, QVBoxLayout, QWidget

from mri_denoise_gui.core.orientation import AXIS_NAMES
from mri_denoise_gui.qt.comparison import ComparisonMixin
from mri_denoise_gui.qt.comparison_tools import ComparisonToolsMixin
from mri_denoise_gui.qt.comparison_view import ComparisonView
from mri_denoise_gui.qt.controls import MetricsPanel, ModelPanel, NoiseControls, SliceControls, VolumeJobPanel
from mri_denoise_gui.qt.file_actions import FileActionsMixin
from mri_denoise_gui.qt.inference_worker import InferenceController
from mri_denoise_gui.qt.messages import ask_stop_training, open_box, reported
from mri_denoise_gui.qt.model_volume import ModelVolumeMixin
from mri_denoise_gui.qt.noise_metrics import NoiseMetricsMixin
from mri_denoise_gui.qt.noref_panel import NoRefMixin, NoRefPanel
from mri_denoise_gui.qt.ortho_view import OrthoMixin
from mri_denoise_gui.qt.precision_menu import add_precision_menu, saved_precision
from mri_denoise_gui.qt.roi_tools import RoiMixin
from mri_denoise_gui.qt.slice_display import SliceDisplayMixin
from mri_denoise_gui.qt.tasks import JobRunner
from mri_denoise_gui.qt.window_settings import SettingsMixin, default_settings
from mri_denoise_gui.viewer.session import ViewerSession
from mri_denoise_gui.viewer.state import MODE_CLEAN, MODE_NOISY, ViewerData


TRAINING_DIALOGS = ("trainingDialog", "adaptDialog")  # each trains in its own thread: stopped on close


class MainWindow(FileActionsMixin, SliceDisplayMixin, NoiseMetricsMixin, NoRefMixin, ModelVolumeMixin,
                 SettingsMixin, ComparisonMixin, ComparisonToolsMixin, RoiMixin, OrthoMixin, QMainWindow):
    """Noisy / Denoised / Ground truth side by side, with everything needed to compare them."""

    volumeLoaded = pyqtSignal()
    noiseApplied = pyqtSignal()
    modelReady = pyqtSignal(object)
    modelFailed = pyqtSignal(str)
    denoisedSliceShown = pyqtSignal(int)  # request id (0 when it came from the cache / volume)
    firstDenoisedShown = pyqtSignal()
    volumeDenoised = pyqtSignal()
    volumeMetricsReady = pyqtSignal(object)
    norefSliceReady = pyqtSignal(object)  # reference-free figures of the slice on screen (no ground truth)
    norefVolumeReady = pyqtSignal(object)  # ... and of the whole volume
    norefSureReady = pyqtSignal(str, object)  # "slice" / "volume", SURE-estimated PSNR (dB) of the model
    exportFinished = pyqtSignal(str)
    errorShown = pyqtSignal(str, str)  # reason, details

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        pg.setConfigOptions(imageAxisOrder="row-major")
        self.setObjectName("mainWindow")
        self.setWindowTitle("MRI Denoise")
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else default_settings()

        self.session = ViewerSession()
        self.current: dict[str, np.ndarray | None] = {"noisy": None, "denoised": None, "truth": None}
        self.slice_metrics: dict = {"noisy": None, "denoised": None}
        self.noref_slice: dict | None = None  # reference-free figures shown (NoRefMixin)
        self.noref_volume: dict | None = None
        self.noref_sure: dict = {"slice": None, "volume": None}
        self.applied_slice_requests: list[int] = []  # request ids whose result went on screen
        self.last_error: tuple[str, str, str] | None = None
        self._latest_slice_request = 0
        self._volume_job: dict | None = None
        self._first_denoised = False
        self._initial_slice: int | None = None
        self._message_boxes: list[QMessageBox] = []
        self._closing = False

        self.session.volume_metrics_changed.connect(self._on_volume_metrics_changed)
        self.controller = InferenceController(self)
        self.tasks = JobRunner(self)
        w = self.controller.worker
        w.status.connect(self._on_worker_status)
        w.modelLoaded.connect(self._on_model_loaded)
        w.backendChanged.connect(self._on_backend_changed)
        self.controller.precision = saved_precision(self.settings)
        w.modelFailed.connect(self._on_model_failed)
        w.sliceDenoised.connect(self._on_slice_denoised)
        w.sliceFailed.connect(self._on_slice_failed)
        w.volumeProgress.connect(self._on_volume_progress)
        w.volumeDenoised.connect(self._on_volume_denoised)
        w.volumeCancelled.connect(self._on_volume_cancelled)
        w.volumeFailed.connect(self._on_volume_failed)
        w.modelCallDone.connect(self._on_model_call_done)

        self._init_comparison()
        self._init_rois()
        self._build_ui()
        self.session.denoised_changed.connect(self.update_noref_volume)
        self._init_ortho()
        self._build_menus()
        self._init_strength()
        self._build_noise_level_edit()
        self.session.volume_changed.connect(self._drop_method_results)
        self.session.noise_changed.connect(self._drop_method_results)
        self.session.model_changed.connect(self._on_main_model_changed)
        self.volumeDenoised.connect(self._denoise_methods_volume)
        self.metrics_panel.maskChanged.connect(self._on_method_mask_changed)
        self._metrics_timer = QTimer(self, singleShot=True, interval=40)
        self._metrics_timer.timeout.connect(self._update_slice_metrics)
        self._noise_timer = QTimer(self, singleShot=True, interval=250)
        self._noise_timer.timeout.connect(self.apply_noise)
        self._restore_settings()
        self._show_empty_state()

    @property
    def data(self) -> ViewerData | None:
        """The open volume (read-only here: changes go through `self.session`)."""
        return self.session.data

    @property
    def model(self) -> dict | None:
        return self.session.model

    @property
    def index(self) -> int:
        return self.session.index

    # ------------------------------------------------------------------------------------
    # UI
    # ------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.compare = ComparisonView()
        self.panes = self.compare.panes
        self.slice_controls = SliceControls()
        self.slice_slider = self.slice_controls.slider
        self.axis_combo = self.slice_controls.axis_combo
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 6, 2, 4)
        left_layout.setSpacing(4)
        left_layout.addWidget(self.compare, 1)
        left_layout.addWidget(self.slice_controls)

        self.noise_controls = NoiseControls()
        self.metrics_panel = MetricsPanel()
        self.noref_panel = NoRefPanel()
        self.model_panel = ModelPanel()
        self.job_panel = VolumeJobPanel()
        side = QWidget()
        side.setObjectName("sidePanel")
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(4, 4, 4, 4)
        # the settings that decide the denoised image first (model and strength, noise, the volume
        # job), then what reads it (metrics, reference-free figures, methods, regions)
        for box in (self.model_panel, self.noise_controls, self.job_panel, self.metrics_panel, self.noref_panel,
                    self.method_table, self.region_panel):
            side_layout.addWidget(box)
        side_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(240)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(scroll)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setCollapsible(0, False)
        self.splitter.setSizes([1000, 280])
        self.setCentralWidget(self.splitter)

        self.cursor_label = QLabel("")
        self.cursor_label.setObjectName("cursorLabel")
        self.device_label = QLabel("")
        self.device_label.setObjectName("deviceLabel")
        self.statusBar().addWidget(self.cursor_label, 1)
        self.statusBar().addPermanentWidget(self.device_label)

        self.slice_controls.sliceChanged.connect(self._on_slice_changed)
        self.slice_controls.axisChanged.connect(self._on_axis_changed)
        self.compare.sliceStep.connect(self._on_slice_step)
        self.compare.cursorMoved.connect(self._on_cursor_moved)
        self.compare.cursorLeft.connect(self._on_cursor_left)
        self.noise_controls.settingsChanged.connect(self._on_noise_settings_changed)
        self.noise_controls.applyRequested.connect(self.apply_noise)
        self.noise_controls.notice.connect(lambda text: self.statusBar().showMessage(text, 15_000))
        self.metrics_panel.maskChanged.connect(self._on_mask_changed)
        self.job_panel.denoiseRequested.connect(self.denoise_volume)
        self.job_panel.cancelRequested.connect(self.cancel_volume)
        self.job_panel.cancelRequested.connect(self.cancel_load)
        self.resize(1280, 800)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.open_action = self._action(file_menu, "&Open volume…", self._on_open_triggered, QKeySequence.StandardKey.Open,
                                        tip="Open a clean volume as ground truth and simulate noise on it")
        self._action(file_menu, "Open &noisy scan…", self._on_open_noisy_triggered, "Ctrl+Shift+O",
                     tip="Open a real noisy scan: no ground truth, noise is not simulated")
        self.recent_menu = file_menu.addMenu("Open &recent")
        self._action(file_menu, "Open &demo volume", self.open_demo)
        file_menu.addSeparator()
        self.attach_action = self._action(file_menu, "&Attach reference volume…", self._on_attach_triggered,
                                          tip="A clean reference for a real noisy scan, for SSIM / PSNR")
        file_menu.addSeparator()
        self.export_action = self._action(file_menu, "&Export denoised volume…",
                                          lambda: self._ask_and_export("denoised"), "Ctrl+E")
        self.export_noisy_action = self._action(file_menu, "Export &noisy volume…",
                                                lambda: self._ask_and_export("noisy"), "Ctrl+Shift+E")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        view_menu = bar.addMenu("&View")
        self.residual_action = self._action(view_menu, "Show &residual pane", self._on_residual_toggled, "Ctrl+R",
                                            checkable=True)
        view_menu.addSeparator()
        for i, axis in enumerate(AXIS_NAMES, start=1):
            self._action(view_menu, f"&{axis.capitalize()}", lambda a=axis: self.set_axis(a), f"Ctrl+{i}")
        view_menu.addSeparator()
        self._action(view_menu, "Reset &zoom", self.compare.reset_view, "Ctrl+0")
        self._action(view_menu, "Reset &window / level", self._on_reset_levels_triggered, "Ctrl+L")
        self._build_comparison_menus(file_menu, view_menu)

        model_menu = bar.addMenu("&Model")
        self._action(model_menu, "&Load model…", self._on_load_model_triggered, "Ctrl+M")
        self._action(model_menu, "Use &default model", self.load_default_model)
        self._action(model_menu, "Use &seed autoencoder (tutorial baseline)", self.load_seed_model)
        model_menu.addSeparator()
        self.denoise_action = self._action(model_menu, "&Denoise whole volume", self.denoise_volume, "Ctrl+D")
        model_menu.addSeparator()
        self.precision_actions = add_precision_menu(model_menu, self.settings, self._on_precision_changed)
        self.strength_action = self._action(model_menu, "Denoising &strength…", self._ask_strength,
                                            tip="How strongly the model smooths (1 = as trained); also the "
                                                "Model panel's Strength box")
        self._action(model_menu, "&Train…", self.open_training_dialog)
        self.adapt_action = self._action(model_menu, "&Adapt to this scan…", self.open_adapt_dialog,
                                         tip="Fine-tune the model on the open noisy volume, without a reference")

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About MRI Denoise", self.show_about)
        self._rebuild_recent_menu()

    def _action(self, menu, text, slot, shortcut=None, tip: str = "", checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.setCheckable(checkable)
        if checkable:
            action.toggled.connect(slot)
        else:
            action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _show_empty_state(self) -> None:
        for key, pane in self.panes.items():
            pane.set_image(None, (0, 1))
            pane.set_orientation_labels(None)
        self.panes["noisy"].show_message("Open a volume: File › Open… (Ctrl+O),\nor drop a .nii / .nii.gz file here\n(Shift+drop: a real noisy scan)")
        self.panes["denoised"].show_message(None)
        self.panes["truth"].show_message(None)
        self.panes["residual"].show_message(None)
        self.slice_controls.set_range(0)
        self._update_actions()

    def _update_actions(self) -> None:
        has = self.session.data is not None
        running = self._volume_job is not None
        ready = has and self.session.model is not None
        self.job_panel.button.setEnabled(ready and not running)
        self.denoise_action.setEnabled(ready and not running)
        self.export_action.setEnabled(ready)
        self.export_noisy_action.setEnabled(has and self.session.data.noisy01 is not None)
        self.attach_action.setEnabled(has and self.session.data.mode == MODE_NOISY)
        clean = not has or self.session.data.mode == MODE_CLEAN
        self.noise_controls.setEnabled(clean)
        self.noise_controls.setToolTip("" if clean else "A real noisy scan: noise is not simulated")
        self.metrics_panel.set_available(not has or self.session.data.has_truth)  # dashes until a volume is open
        self.noref_panel.setVisible(has and not self.session.data.has_truth)
        if not running and not self.volume_is_denoised():
            self.job_panel.clear_done()  # "Done" would claim a denoised volume there no longer is

    # ------------------------------------------------------------------------------------
    # Messages
    # ------------------------------------------------------------------------------------
    def show_error(self, title: str, reason: str, details: str = "") -> None:
        """One-line reason, details on demand; never blocks (the box is opened, not exec'd)."""
        self.last_error = (title, reason, details)
        self.statusBar().showMessage(f"{title}: {reason}", 10_000)
        self.errorShown.emit(reason, details)
        if self._closing:
            return
        open_box(self, self._message_boxes, "errorBox", title, reason, details=details)

    def show_about(self) -> None:
        from mri_denoise_gui.qt.about import about_box

        device = self.session.model.get("device") if self.session.model else None
        box = about_box(self, device)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    @reported("Could not open the training dialog", None)
    def open_training_dialog(self) -> None:
        """Model › Train…: the dialog trains in its own thread (imported on first use: it pulls Keras in)."""
        from mri_denoise_gui.qt import training_dialog

        training_dialog.open_training_dialog(self)

    @reported("Could not open the adaptation dialog", None)
    def open_adapt_dialog(self):
        """Model › Adapt to this scan…: self-supervised fine-tuning in the dialog's own thread."""
        from mri_denoise_gui.qt import adapt_dialog

        return adapt_dialog.open_adapt_dialog(self)

    def _on_worker_status(self, text: str) -> None:
        self.statusBar().showMessage(text, 15_000)
        if "TensorFlow" in text:
            self.device_label.setText("TensorFlow loading…")

    # ------------------------------------------------------------------------------------
    # Settings and shutdown
    # ------------------------------------------------------------------------------------
    def _close_training_dialog(self) -> None:
        """Training runs in the dialog's own thread: stop it before the window goes away."""
        for dialog in filter(None, (self.findChild(QWidget, name) for name in TRAINING_DIALOGS)):
            try:
                if hasattr(dialog, "cancel_and_wait"):
                    dialog.cancel_and_wait(60_000)
                dialog.close()
            except RuntimeError:  # already deleted
                pass

    def _training_running(self) -> bool:
        try:
            return any(dialog is not None and dialog.is_training()
                       for dialog in (self.findChild(QWidget, name) for name in TRAINING_DIALOGS))
        except (RuntimeError, AttributeError):
            return False

    def _ask_to_stop_training(self) -> None:
        ask_stop_training(self, "stopTrainingOnCloseBox", "A model is training. Stop it and quit?",
                          self._on_stop_training_confirmed)

    def _on_stop_training_confirmed(self) -> None:
        self._close_confirmed = True
        self.close()

    def closeEvent(self, event) -> None:
        """Save settings, cancel running work, stop the worker thread and wait for it."""
        if not self._closing and self._training_running() and not getattr(self, "_close_confirmed", False):
            event.ignore()
            self._ask_to_stop_training()
            return
        if not self._closing:
            self._closing = True
            self.save_settings()
            self._metrics_timer.stop()
            self._noise_timer.stop()
            self.session.pending_export = None
            if self._volume_job is not None:
                self.cancel_volume()
            self.cancel_load()
            self.tasks.cancel_all()
            for box in list(self._message_boxes):
                box.close()
            self._close_training_dialog()
            self.controller.shutdown()
        super().closeEvent(event)
