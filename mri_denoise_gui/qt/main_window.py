"""The main window: three linked panes, slice scrubber, noise controls, metrics, worker, files.

The window holds the state (`ViewerData`, tokens, cache) and wires widgets to it; numbers come
from `core`, denoising from the inference worker, file actions from `file_actions.FileActionsMixin`. Message boxes never block (`show_error`
opens them window-modal and returns), so tests and the --screenshot run can't hang on one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QSettings, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from mri_denoise_gui.qt.messages import open_box, reported
from mri_denoise_gui.core.noise import sigma_from_variance
from mri_denoise_gui.core.orientation import AXIS_NAMES, axis_codes
from mri_denoise_gui.qt.controls import (
    DONE,
    MetricsPanel,
    ModelPanel,
    NoiseControls,
    SliceControls,
    VolumeJobPanel,
)
from mri_denoise_gui.qt.file_actions import FileActionsMixin
from mri_denoise_gui.qt.inference_worker import InferenceController, describe_error
from mri_denoise_gui.qt.precision_menu import add_precision_menu, saved_precision
from mri_denoise_gui.qt.model_info import model_summary
from mri_denoise_gui.qt.slice_views import CompareView
from mri_denoise_gui.viewer.compute import make_noisy_volume, score_slice, score_volume, volume_metrics_text
from mri_denoise_gui.viewer.session import ViewerSession
from mri_denoise_gui.viewer.state import (
    MODE_CLEAN,
    MODE_NOISY,
    NoiseSettings,
    ViewerData,
    display_from_file_slice,
    file_order_slice,
)
from mri_denoise_gui.qt.tasks import JobRunner
from mri_denoise_gui.qt.window_settings import SettingsMixin, default_settings

SYNC_NOISE_VOXELS = 4 * 2**20  # above this, noise is generated in a background thread


class MainWindow(FileActionsMixin, SettingsMixin, QMainWindow):
    """Noisy / Denoised / Ground truth side by side, with everything needed to compare them."""

    volumeLoaded = pyqtSignal()
    noiseApplied = pyqtSignal()
    modelReady = pyqtSignal(object)
    modelFailed = pyqtSignal(str)
    denoisedSliceShown = pyqtSignal(int)  # request id (0 when it came from the cache / volume)
    firstDenoisedShown = pyqtSignal()
    volumeDenoised = pyqtSignal()
    volumeMetricsReady = pyqtSignal(object)
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

        self._build_ui()
        self._build_menus()
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
        self.compare = CompareView()
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
        self.model_panel = ModelPanel()
        self.job_panel = VolumeJobPanel()
        side = QWidget()
        side.setObjectName("sidePanel")
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(4, 4, 4, 4)
        for box in (self.noise_controls, self.metrics_panel, self.job_panel, self.model_panel):
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

        model_menu = bar.addMenu("&Model")
        self._action(model_menu, "&Load model…", self._on_load_model_triggered, "Ctrl+M")
        self._action(model_menu, "Use &default model", self.load_default_model)
        self._action(model_menu, "Use &seed autoencoder (tutorial baseline)", self.load_seed_model)
        model_menu.addSeparator()
        self.denoise_action = self._action(model_menu, "&Denoise whole volume", self.denoise_volume, "Ctrl+D")
        model_menu.addSeparator()
        self.precision_actions = add_precision_menu(model_menu, self.settings, self._on_precision_changed)
        self._action(model_menu, "&Train…", self.open_training_dialog)

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
        """Hook for the training dialog (another issue); says so until that module exists."""
        try:
            from mri_denoise_gui.qt import training_dialog  # noqa: F401
        except ImportError:
            self.statusBar().showMessage("Training from the GUI is not available yet: use `mri-denoise train`.", 8000)
            box = QMessageBox(QMessageBox.Icon.Information, "Train", "Training from the GUI is not available yet.\n"
                              "Use the command line: mri-denoise train …", QMessageBox.StandardButton.Ok, self)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()
            return
        opener = getattr(training_dialog, "open_training_dialog", None)
        if callable(opener):
            opener(self)

    def _on_worker_status(self, text: str) -> None:
        self.statusBar().showMessage(text, 15_000)
        if "TensorFlow" in text:
            self.device_label.setText("TensorFlow loading…")

    @reported("Could not show the volume")
    def _set_volume(self, data: ViewerData) -> bool:
        """Show a volume prepared by `state.prepare_viewer_data`; if that fails, an empty window
        (never half of a volume)."""
        try:
            return self._show_volume(data)
        except Exception:
            self.session.set_volume(None)
            self._show_empty_state()
            raise

    def _show_volume(self, data: ViewerData) -> bool:
        self.cancel_volume()
        volume, as_noisy = data.volume, data.mode == MODE_NOISY
        self.session.set_volume(data)
        self.compare.set_histogram(*data.histogram)
        self.compare.set_levels(*data.levels)
        self._update_residual_level()

        if volume.path is not None:
            self._add_recent(volume.path)
            self.remember("files/lastDir", str(volume.path.parent))
        name = volume.path.name if volume.path is not None else "volume"
        suffix = f" [volume {volume.volume_index}]" if volume.n_volumes > 1 else ""
        mode = " — real noisy scan" if as_noisy else ""
        self.setWindowTitle(f"{name}{suffix}{mode} — MRI Denoise")
        self.panes["noisy"].title.setText("Noisy (scan)" if as_noisy else "Noisy")

        geom = data.geometry(self.session.axis)
        index = self._initial_slice if self._initial_slice is not None else geom.n_slices // 2
        self._initial_slice = None
        self.session.index = int(min(max(index, 0), geom.n_slices - 1))
        self.slice_controls.set_range(geom.n_slices)
        self.slice_controls.set_value(self.session.index)
        self._update_actions()
        self.panes["noisy"].show_message(None)
        info = f"{name}: {' × '.join(map(str, volume.shape))} voxels, " \
               f"{' × '.join(f'{v:g}' for v in volume.voxel_sizes)} mm, {axis_codes(volume.affine)}, {volume.dtype}"
        self.statusBar().showMessage(info + ("; " + "; ".join(volume.warnings) if volume.warnings else ""), 15_000)
        self.refresh()  # the ground truth shows at once, even while a big noisy volume is made
        self.compare.reset_view()  # fit the new volume: never the previous one's field of view
        if not as_noisy:
            self.apply_noise(self.noise_controls.settings())
        self.volumeLoaded.emit()
        return True

    def _with_warnings(self, text: str) -> str:
        warnings = self.session.data.volume.warnings if self.session.data is not None else []
        return text + "".join(f"; warning: {w}" for w in warnings)

    # ------------------------------------------------------------------------------------
    # Noise
    # ------------------------------------------------------------------------------------
    def _on_noise_settings_changed(self, settings: NoiseSettings) -> None:
        dirty = settings != self.session.noise
        self.noise_controls.set_dirty(dirty and not self.noise_controls.auto_apply())
        if dirty and self.noise_controls.auto_apply() and self.session.data is not None:
            self._noise_timer.start()

    @reported("Could not change the noise")
    def set_noise(self, kind: str | None = None, variance: float | None = None, seed: int | None = None,
                  apply: bool = True) -> None:
        """Change the noise from code (command line, tests); the widgets follow."""
        cur = self.noise_controls.settings()
        asked = NoiseSettings(kind if kind is not None else cur.kind,
                              variance if variance is not None else cur.variance,
                              seed if seed is not None else cur.seed)
        new = asked.validated()
        if new != asked:
            self.statusBar().showMessage(f"Noise {asked.kind}, variance {asked.variance:g}, seed {asked.seed} is out of "
                                         f"range: using {new.kind}, variance {new.variance:g}, seed {new.seed}", 15_000)
        self.noise_controls.set_settings(new)
        if apply and self.session.data is not None:
            self.apply_noise(new)

    @reported("Could not add noise", None)
    def apply_noise(self, settings: NoiseSettings | None = None) -> None:
        """Regenerate the noisy volume from the ground truth (in a thread for big volumes)."""
        self._noise_timer.stop()
        data = self.session.data
        if data is None or data.mode != MODE_CLEAN or data.truth01 is None:
            return
        settings = (settings or self.noise_controls.settings()).validated()
        truth = data.truth01
        self.tasks.cancel("noise")  # newer settings win over a noisy volume still being made
        if truth.size <= SYNC_NOISE_VOXELS:
            try:
                noisy = make_noisy_volume(truth, settings)
            except Exception as exc:
                self.show_error("Could not add noise", *describe_error(exc))
                return
            self._on_noise_ready(data, settings, noisy)
        else:
            self.statusBar().showMessage("Adding noise…")
            self.panes["noisy"].title.setText("Noisy · updating…")
            self.tasks.run("noise", lambda state: make_noisy_volume(truth, settings),
                           lambda noisy: self._on_noise_ready(data, settings, noisy),
                           lambda r, d: self.show_error("Could not add noise", r, d))

    def _on_noise_ready(self, data: ViewerData, settings: NoiseSettings, noisy: np.ndarray) -> None:
        if data is not self.session.data or self._closing:
            return  # made for another volume
        if self._volume_job is not None:
            self.cancel_volume()
        self.session.set_noisy(noisy, settings)
        self.panes["noisy"].title.setText(
            f"Noisy · {settings.kind}, σ {sigma_from_variance(settings.variance):.3f}")
        self.noise_controls.set_dirty(False)
        self._update_residual_level()
        self._update_actions()
        self.statusBar().showMessage(self._with_warnings(
            f"Noise: {settings.kind}, variance {settings.variance:g} (σ {sigma_from_variance(settings.variance):.3f}),"
            f" seed {settings.seed}"), 15_000 if data.volume.warnings else 5000)
        self.refresh()
        self.noiseApplied.emit()

    def _update_residual_level(self) -> None:
        if self.session.data is None:
            return
        if self.session.data.mode == MODE_CLEAN:
            self.session.data.residual_level = max(3.0 * sigma_from_variance(self.noise_controls.settings().variance), 0.02)
        else:
            self.session.data.residual_level = 0.0  # measured on the first residual shown

    # ------------------------------------------------------------------------------------
    # Slices
    # ------------------------------------------------------------------------------------
    def _on_slice_changed(self, index: int) -> None:
        self.set_slice(index)

    def _on_slice_step(self, step: int) -> None:
        self.set_slice(self.session.index + step)

    def _on_axis_changed(self, axis: str) -> None:
        self.set_axis(axis)

    def set_axis(self, axis: str) -> None:
        if axis not in AXIS_NAMES:
            raise ValueError(f"unknown axis {axis!r}")
        self.slice_controls.set_axis(axis)
        if axis == self.session.axis and self.session.data is not None:
            return
        self.session.axis = axis
        if self.session.data is None:
            return
        geom = self.session.data.geometry(axis)
        self.session.index = geom.n_slices // 2
        self.slice_controls.set_range(geom.n_slices)
        self.slice_controls.set_value(self.session.index)
        self.refresh()
        self.compare.reset_view()

    def set_slice(self, index: int) -> None:
        if self.session.data is None:
            return
        n = self.session.data.geometry(self.session.axis).n_slices
        index = int(min(max(index, 0), n - 1))
        if index == self.session.index and self.current.get("noisy") is not None:
            self.slice_controls.set_value(index)
            return
        self.session.index = index
        self.slice_controls.set_value(index)
        self.refresh()

    def slice_key(self) -> tuple:
        return (self.session.axis, self.session.index, self.session.noise_token, self.session.model_token)

    def refresh(self) -> None:
        """Show the current slice in every pane; ask the worker for the denoised one if needed."""
        data = self.session.data
        if data is None:
            return
        geom = data.geometry(self.session.axis)
        px = geom.pixel_size
        levels = self.compare.levels()
        labels = geom.labels
        truth = np.ascontiguousarray(geom.extract(data.truth01, self.session.index)) if data.truth01 is not None else None
        noisy = np.ascontiguousarray(geom.extract(data.noisy01, self.session.index)) if data.noisy01 is not None else None
        self.current = {"noisy": noisy, "denoised": None, "truth": truth}

        self.panes["truth"].set_image(truth, levels, px)
        self.panes["truth"].set_orientation_labels(labels if truth is not None else None)
        if truth is None:
            self.panes["truth"].show_message("No ground truth\n(real noisy scan)\n\nFile › Attach reference volume…")
        else:
            self.panes["truth"].show_message(None)
        self.panes["noisy"].set_image(noisy, levels, px)
        self.panes["noisy"].set_orientation_labels(labels)
        self.panes["noisy"].show_message(None if noisy is not None else "Adding noise…")

        denoised = None
        if noisy is not None:
            denoised = self._cached_denoised(geom)
        pane = self.panes["denoised"]
        pane.set_orientation_labels(labels)
        if denoised is not None:
            self._show_denoised(denoised, 0)
        else:
            self._show_residual()
            if noisy is not None and self.session.model is not None:
                self._latest_slice_request = self.controller.request_slice(
                    self.session.slice_key(), file_order_slice(data.noisy01, geom, self.session.index))
                pane.title.setText("Denoised · working…")
            elif self.session.model_loading:
                pane.set_image(None, levels, px)
                pane.show_message("Loading model…")
            elif self.session.model is None:
                pane.set_image(None, levels, px)
                pane.show_message("No model loaded\nModel › Load model…")
        self._metrics_timer.start()

    def _cached_denoised(self, geom) -> np.ndarray | None:
        data = self.session.data
        if data.denoised01 is not None and data.denoised_tokens == (self.session.noise_token, self.session.model_token):
            return np.ascontiguousarray(geom.extract(data.denoised01, self.session.index))
        return self.session.cache.get(self.session.slice_key())

    def _show_denoised(self, image: np.ndarray, request_id: int) -> None:
        geom = self.session.data.geometry(self.session.axis)
        pane = self.panes["denoised"]
        pane.set_image(image, self.compare.levels(), geom.pixel_size)
        pane.show_message(None)
        name = self.session.model.get("name") if self.session.model else ""
        pane.title.setText(f"Denoised · {name}" if name else "Denoised")
        self.current["denoised"] = image
        self._show_residual()
        self._metrics_timer.start()
        self.denoisedSliceShown.emit(request_id)
        if not self._first_denoised:
            self._first_denoised = True
            self.firstDenoisedShown.emit()

    def _show_residual(self) -> None:
        pane = self.panes["residual"]
        if not self.compare.residual_visible:
            return
        noisy, den = self.current.get("noisy"), self.current.get("denoised")
        geom = self.session.data.geometry(self.session.axis)
        pane.set_orientation_labels(geom.labels)
        if noisy is None or den is None:
            pane.set_image(None, (0, 1))
            pane.show_message("Waiting for the denoised slice…")
            return
        residual = noisy - den
        if not self.session.data.residual_level:
            self.session.data.residual_level = max(3.0 * float(np.std(residual)), 1e-3)
        level = self.session.data.residual_level
        pane.set_image(residual, (-level, level), geom.pixel_size)
        pane.show_message(None)

    def _on_residual_toggled(self, on: bool) -> None:
        self.compare.set_residual_visible(on)
        if self.session.data is not None:
            self._show_residual()

    def _on_reset_levels_triggered(self) -> None:
        if self.session.data is not None:
            self.compare.set_levels(*self.session.data.levels)

    # -- worker results -------------------------------------------------------------------
    def _on_slice_denoised(self, request_id: int, key: tuple, file_slice: np.ndarray) -> None:
        data = self.session.data
        if data is None or key[2] != self.session.noise_token or key[3] != self.session.model_token:
            return  # for another volume, noise or model: useless
        geom = data.geometry(key[0])
        if geom.n_slices <= key[1]:
            return
        image = display_from_file_slice(file_slice, geom, key[1])
        self.session.cache.put(key, image)
        if request_id != self._latest_slice_request or key != self.session.slice_key():
            return  # stale: a newer request supersedes it (it stays cached)
        self.applied_slice_requests.append(request_id)
        self._show_denoised(image, request_id)

    def _on_slice_failed(self, request_id: int, reason: str, details: str) -> None:
        if request_id != self._latest_slice_request:
            return
        self.panes["denoised"].title.setText("Denoised")
        self.panes["denoised"].show_message(f"Denoising failed:\n{reason}")
        if self.session.model is not None:
            self.show_error("Denoising failed", reason, details)

    # ------------------------------------------------------------------------------------
    # Metrics
    # ------------------------------------------------------------------------------------
    def _on_mask_changed(self, on: bool) -> None:
        self.update_slice_metrics()
        if self.session.data is not None and self.session.data.denoised01 is not None:
            self._compute_volume_metrics()

    def _slice_metrics_key(self) -> tuple:
        return (self.session.axis, self.session.index, self.session.noise_token, self.session.model_token,
                self.metrics_panel.mask_check.isChecked(), self.current.get("denoised") is not None,
                id(self.session.data))

    def _update_slice_metrics(self) -> None:
        self.update_slice_metrics()

    def update_slice_metrics(self, wait: bool = False) -> None:
        """SSIM / PSNR of this slice vs the ground truth, computed off the GUI thread.

        Scrubbing never waits for them: they run 40 ms after the slice settles, stale results
        are dropped, and the noisy scores are cached per slice. `wait=True` computes in place.
        """
        self._metrics_timer.stop()
        data = self.session.data
        truth, noisy, den = (self.current.get(k) for k in ("truth", "noisy", "denoised"))
        if data is None or truth is None or noisy is None:
            self.slice_metrics = {"noisy": None, "denoised": None}
            self.metrics_panel.set_slice_metrics(None, None)
            return
        key = self._slice_metrics_key()
        use_mask = key[4]
        geom, index = data.geometry(self.session.axis), self.session.index
        noisy_key = self.session.noisy_key(use_mask)
        cached_noisy = self.session.noisy_scores.get(noisy_key)

        def compute(state=None):
            mask = None
            if use_mask:
                full = data.foreground()
                mask = None if full is None else np.ascontiguousarray(geom.extract(full, index))
            return score_slice(truth, noisy, den, mask, cached_noisy)

        def done(result):
            if key != self._slice_metrics_key():
                return  # the slice, noise, model or mask changed meanwhile
            noisy_m, den_m, masked = result["noisy"], result["denoised"], result["mask"]
            self.session.noisy_scores[noisy_key] = noisy_m
            self.slice_metrics = {"noisy": noisy_m, "denoised": den_m}
            self.metrics_panel.set_slice_metrics(noisy_m, den_m)
            self.metrics_panel.scope_label.setText(
                f"Slice {index} ({geom.axis_name})" + (" · inside mask" if masked else ""))

        if wait:
            self.tasks.cancel("slice metrics")
            done(compute())
        else:
            self.tasks.run("slice metrics", compute, done,
                           lambda r, d: self.statusBar().showMessage(f"Metrics failed: {r}", 8000))

    def _compute_volume_metrics(self) -> None:
        data = self.session.data
        if data is None or data.truth01 is None or data.denoised01 is None or data.noisy01 is None:
            return
        use_mask = self.metrics_panel.mask_check.isChecked()
        self.metrics_panel.set_volume_text("Whole volume: computing…")
        self.tasks.run("volume metrics", lambda state: score_volume(data, use_mask),
                       lambda result: self.session.set_volume_metrics(data, result),
                       lambda r, d: self.show_error("Could not compute volume metrics", r, d))

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
        self.controller.load_model(str(folder))
        return True

    def _on_model_loaded(self, info: dict) -> None:
        self.session.set_model(info)
        self._show_model_info(info)
        self.statusBar().showMessage(f"Model {info.get('name')} loaded on {info.get('device')} "
                                     f"({info.get('seconds', 0):.1f} s)", 8000)
        self._update_actions()
        self.modelReady.emit(info)
        self.refresh()

    def _show_model_info(self, info: dict) -> None:
        """Model panel and status-bar label: name, what it is, where and in which precision it runs."""
        summary, tooltip = model_summary(info.get("info", {}))
        self.model_panel.set_model(info.get("name", "model"), f"{summary}\nRuns on {info.get('device', '?')}",
                                   f"{info.get('folder')}\n{tooltip}")
        self.device_label.setText(f"{info.get('name')} · {info.get('device', '?')}")

    def _on_backend_changed(self, info: dict) -> None:
        """TensorFlow took over from the LiteRT bridge: same model, same results, new speed."""
        if self.session.model is None or info.get("folder") != self.session.model.get("folder"):
            return
        self.session.update_model_info(info)
        self._show_model_info(info)
        self.statusBar().showMessage(f"Model {info.get('name')} on {info.get('device')} "
                                     f"(TensorFlow ready after {info.get('seconds', 0):.1f} s)", 8000)
        self._update_actions()
        self.modelReady.emit(info)

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

    # ------------------------------------------------------------------------------------
    # Cursor readout and keyboard
    # ------------------------------------------------------------------------------------
    def _on_cursor_moved(self, row: int, col: int) -> None:
        if self.session.data is None:
            return
        geom = self.session.data.geometry(self.session.axis)
        try:
            ijk = geom.voxel(self.session.index, row, col)
            xyz = geom.world(self.session.index, row, col)
        except IndexError:
            return
        parts = [f"voxel ({ijk[0]}, {ijk[1]}, {ijk[2]})", f"({xyz[0]:.1f}, {xyz[1]:.1f}, {xyz[2]:.1f}) mm",
                 f"file {float(self.session.data.volume.data[ijk]):.4g}"]
        for key, name in (("noisy", "noisy"), ("denoised", "denoised"), ("truth", "truth")):
            image = self.current.get(key)
            if image is not None and row < image.shape[0] and col < image.shape[1]:
                parts.append(f"{name} {float(image[row, col]):.3f}")
        self.cursor_label.setText("   ".join(parts))

    def _on_cursor_left(self) -> None:
        self.cursor_label.setText("")

    def keyPressEvent(self, event) -> None:
        if self.session.data is None:
            super().keyPressEvent(event)
            return
        n = self.session.data.geometry(self.session.axis).n_slices
        steps = {Qt.Key.Key_Up: 1, Qt.Key.Key_Down: -1, Qt.Key.Key_PageUp: 10, Qt.Key.Key_PageDown: -10}
        key = event.key()
        if key in steps:
            self.set_slice(self.session.index + steps[key])
        elif key == Qt.Key.Key_Home:
            self.set_slice(0)
        elif key == Qt.Key.Key_End:
            self.set_slice(n - 1)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    # ------------------------------------------------------------------------------------
    # Settings and shutdown
    # ------------------------------------------------------------------------------------
    def _close_training_dialog(self) -> None:
        """Training runs in the dialog's own thread: stop it before the window goes away."""
        dialog = self.findChild(QWidget, "trainingDialog")
        if dialog is None:
            return
        try:
            if hasattr(dialog, "cancel_and_wait"):
                dialog.cancel_and_wait(60_000)
            dialog.close()
        except RuntimeError:  # already deleted
            pass

    def _training_running(self) -> bool:
        dialog = self.findChild(QWidget, "trainingDialog")
        try:
            return bool(dialog is not None and dialog.is_training())
        except (RuntimeError, AttributeError):
            return False

    def _ask_to_stop_training(self) -> None:
        """Non-modal question: a training run is an hour of work the user may not want lost."""
        box = self.findChild(QMessageBox, "stopTrainingOnCloseBox")
        if box is None:
            box = QMessageBox(
                QMessageBox.Icon.Question, "Training is running",
                "A model is training. Stop it and quit?\n"
                "The best model saved so far stays in its output folder.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self,
            )
            box.setObjectName("stopTrainingOnCloseBox")
            box.setWindowModality(Qt.WindowModality.NonModal)
            box.setDefaultButton(QMessageBox.StandardButton.No)
            box.finished.connect(self._on_stop_training_answered)
        box.show()
        box.raise_()

    def _on_stop_training_answered(self, result: int) -> None:
        if result == QMessageBox.StandardButton.Yes:
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
