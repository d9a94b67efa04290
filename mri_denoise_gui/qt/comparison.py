"""Comparison panes of the main window: more methods beside the network, their scores, error map.

Each extra pane shows one method: a classical baseline of `core.baselines` (run by the job
runner under the pane's own job name, so the newest slice wins and the GUI never waits) or the
network (the Denoised pane's image). Results are cached per (method, axis, slice, noisy volume).
The metrics table gets one row per method; after "Denoise volume" every shown classical method
is run on the whole volume too and scored. A mixin of `MainWindow`; what it uses is declared below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QWidget,
)

from mri_denoise_gui.qt.comparison_view import ComparisonView
from mri_denoise_gui.qt.controls import MetricsPanel
from mri_denoise_gui.qt.extra_models import extra_model_worker
from mri_denoise_gui.qt.inference_worker import InferenceController
from mri_denoise_gui.qt.tasks import JobRunner
from mri_denoise_gui.viewer.comparison import (
    NETWORK,
    classical_methods,
    classical_slice,
    classical_volume,
    error_map,
    method_label,
)
from mri_denoise_gui.viewer.compute import score_pair
from mri_denoise_gui.viewer.session import ViewerSession
from mri_denoise_gui.viewer.state import SliceCache, display_from_file_slice, file_order_slice

MODEL_PREFIX = "model:"  # a method naming another model folder: "model:/path/to/folder"

COLUMNS = ("Method", "SSIM", "PSNR", "Gain", "Vol SSIM", "Vol PSNR")


def _fmt(value, digits: int) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


class MethodMetricsTable(QTableWidget):
    """SSIM / PSNR / PSNR gain over the noisy slice, one row per method; whole-volume columns."""

    def __init__(self, parent=None):
        super().__init__(0, len(COLUMNS), parent)
        self.setObjectName("methodMetricsTable")
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setMinimumHeight(120)
        self.setToolTip("This slice vs the ground truth; Gain is the PSNR gain over the noisy slice in dB;"
                        " Vol: the whole volume, after Denoise volume (every shown method is run)")
        self.rows: dict[str, dict] = {}  # method -> {"slice": scores, "volume": scores}

    def show_rows(self, rows: dict[str, dict]) -> None:
        self.rows = rows
        self.setRowCount(len(rows))
        noisy = (rows.get("noisy") or {}).get("slice")
        for r, (method, entry) in enumerate(rows.items()):
            s, v = entry.get("slice") or {}, entry.get("volume") or {}
            gain = None if not s or not noisy else s["psnr"] - noisy["psnr"]
            cells = ("Noisy" if method == "noisy" else method_label(method, short=True), _fmt(s.get("ssim"), 4),
                     _fmt(s.get("psnr"), 2), _fmt(gain, 2) if method != "noisy" else "", _fmt(v.get("ssim"), 4),
                     _fmt(v.get("psnr"), 2))
            for c, text in enumerate(cells):
                self.setItem(r, c, QTableWidgetItem(text))
        has_volume = any(entry.get("volume") for entry in rows.values())
        for c in (4, 5):  # whole-volume columns once "Denoise volume" has run
            self.setColumnHidden(c, not has_volume)


class ComparisonMixin:
    """Method panes next to the network's, the per-method metrics table and the error map."""

    session: ViewerSession
    tasks: JobRunner
    compare: ComparisonView
    panes: dict
    current: dict
    metrics_panel: MetricsPanel
    controller: InferenceController

    def _init_comparison(self) -> None:
        self.pane_methods: dict[str, str] = {}  # pane key -> method
        self.method_cache = SliceCache(128 * 2**20)
        self.method_volumes: dict[str, tuple] = {}  # method -> (noise_token, volume01)
        self.method_scores: dict[str, dict] = {}
        self._models_strength = 1.0  # the strength other models' whole volumes were made at
        self.error_method = NETWORK
        self.method_table = MethodMetricsTable()
        self._pane_serial = 0
        # scores wait until scrubbing pauses (as the slice metrics do): no thread per frame
        self._method_metrics_timer = QTimer(self, singleShot=True, interval=40)
        self._method_metrics_timer.timeout.connect(self.update_method_metrics)
        self.extra_models = extra_model_worker(self.controller)  # TensorFlow's one thread
        self.extra_models.sliceDenoised.connect(self._on_model_slice)
        self.extra_models.sliceFailed.connect(self._on_model_slice_failed)
        self.extra_models.volumeDenoised.connect(self._on_model_volume)
        self.extra_models.volumeFailed.connect(
            lambda folder, r, d: self.show_error(f"Could not denoise with {method_label(MODEL_PREFIX + folder)}", r, d))

    # -- panes ---------------------------------------------------------------------------------
    def add_comparison_pane(self, method: str) -> str:
        """Duplicate the denoised pane with another method; returns its key (objectName `<key>View`)."""
        self.check_method(method)
        self._pane_serial += 1
        key = f"compare{self._pane_serial}"
        pane = self.compare.add_pane(key, method_label(method, short=True), f"{key}View")
        self.pane_methods[key] = method
        pane.layout().removeWidget(pane.title)  # the chooser sits in the title bar: images stay aligned
        pane.layout().insertWidget(0, self._pane_chooser(key, method, pane.title))
        self._refresh_methods()
        return key

    def _pane_chooser(self, key: str, method: str, title) -> QWidget:
        """The title bar: title, the pane's method combo (`<key>MethodCombo`), close (`<key>CloseButton`)."""
        row = QWidget()
        row.setStyleSheet("background: #1d2024;")
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 2, 0)
        layout.setSpacing(2)
        layout.addWidget(title, 1)
        height = title.sizeHint().height()
        combo = QComboBox()
        combo.setMaximumHeight(height)
        combo.setMaximumWidth(150)
        combo.setObjectName(f"{key}MethodCombo")
        for m in dict.fromkeys([NETWORK, *classical_methods(), *self.pane_methods.values(), method]):
            combo.addItem(method_label(m), m)
        combo.setCurrentIndex(combo.findData(method))
        combo.currentIndexChanged.connect(lambda _i: self.set_pane_method(key, combo.currentData()))
        close = QToolButton()
        close.setObjectName(f"{key}CloseButton")
        close.setText("✕")
        close.setToolTip("Remove this comparison pane")
        close.setMaximumHeight(height)
        close.clicked.connect(lambda: self.remove_comparison_pane(key))
        layout.addWidget(combo)
        layout.addWidget(close)
        return row

    def set_pane_method(self, key: str, method: str) -> None:
        self.check_method(method)
        self.pane_methods[key] = method
        self._refresh_methods()

    def remove_comparison_pane(self, key: str) -> None:
        self.tasks.cancel(f"method {key}")
        self.pane_methods.pop(key, None)
        self.compare.remove_pane(key)
        self._refresh_methods()

    def comparison_ready(self) -> bool:
        """Every method pane shows the current slice and the table scores it (the --screenshot wait)."""
        if any(self.method_image(m) is None for m in self.pane_methods.values()):
            return False
        data = self.session.data
        if data is None or not data.has_truth:
            return True
        return all(self.method_table.rows.get(m, {}).get("slice") for m in self._shown_methods())

    def check_method(self, method: str) -> None:
        """ValueError with a one-line reason when ``method`` cannot be a pane (the command line's
        --compare asks before it changes anything)."""
        if method.startswith(MODEL_PREFIX):
            folder = Path(method[len(MODEL_PREFIX):])
            if not (folder / "model.keras").is_file():
                raise ValueError(f"{folder} is not a model folder (no model.keras in it)")
            return
        if method != NETWORK and method not in classical_methods():
            raise ValueError(f"unknown method {method!r}; choose network or one of {', '.join(classical_methods())}")

    def model_strength(self) -> float:
        """The strength the main model runs at: other models' panes and the orthogonal views run at it too."""
        return float((self.session.model or {}).get("strength", 1.0))

    def method_slice_key(self, method: str, axis: str, index: int) -> tuple:
        """The cache key of ``method``'s slice: other models' carry the strength they run at."""
        return (method, axis, index, self.session.noise_token,
                self.model_strength() if method.startswith(MODEL_PREFIX) else None)

    def _method_key(self, method: str) -> tuple:
        return self.method_slice_key(method, self.session.axis, self.session.index)

    def method_image(self, method: str) -> np.ndarray | None:
        """The current slice as `method` denoised it, if it is on hand (None while it runs)."""
        if method == NETWORK:
            return self.current.get("denoised")
        data = self.session.data
        if data is not None and method in self.method_volumes and self.method_volumes[method][0] == self.session.noise_token:
            geom = data.geometry(self.session.axis)
            return np.ascontiguousarray(geom.extract(self.method_volumes[method][1], self.session.index))
        return self.method_cache.get(self._method_key(method))

    def _refresh_methods(self) -> None:
        """Show every method pane's slice: from the cache, or start its background job."""
        data = self.session.data
        noisy = self.current.get("noisy")
        if data is None:
            return
        geom = data.geometry(self.session.axis)
        for key, method in self.pane_methods.items():
            pane = self.panes[key]
            pane.set_orientation_labels(geom.labels)
            image = self.method_image(method)
            if image is not None or method == NETWORK:
                self._show_method(key, method, image)
                continue
            if noisy is None:
                continue
            pane.title.setText(f"{method_label(method, short=True)} · working…")
            slice_key = self._method_key(method)
            if method.startswith(MODEL_PREFIX):
                self.extra_models.submit(method[len(MODEL_PREFIX):], slice_key,
                                         file_order_slice(data.noisy01, geom, self.session.index),
                                         strength=slice_key[4])
                continue
            self.tasks.run(f"method {key}", lambda state, m=method, n=noisy: classical_slice(m, n),
                           lambda image, k=key, m=method, sk=slice_key: self._on_method_slice(k, m, sk, image),
                           lambda r, d, k=key: self.panes[k].show_message(f"Failed:\n{r}") if k in self.panes else None)
        self._show_error_map()
        self._update_method_metrics()
        self.update_rois()
        self._render_ortho()

    def _on_method_slice(self, key: str, method: str, slice_key: tuple, image: np.ndarray) -> None:
        self.method_cache.put(slice_key, image)
        if key in self.pane_methods and self.pane_methods[key] == method and slice_key == self._method_key(method):
            self._show_method(key, method, image)
            self._show_error_map()
            self._update_method_metrics()
            self.update_rois()

    def _on_model_slice(self, folder: str, slice_key: tuple, file_slice: np.ndarray) -> None:
        data = self.session.data
        if data is None or slice_key[3] != self.session.noise_token:
            return  # for another noisy volume
        geom = data.geometry(slice_key[1])
        if geom.n_slices <= slice_key[2]:
            return
        image = display_from_file_slice(file_slice, geom, slice_key[2])
        for key, method in list(self.pane_methods.items()):
            if method == slice_key[0]:
                self._on_method_slice(key, method, slice_key, image)
        self.method_cache.put(slice_key, image)

    def _on_model_slice_failed(self, folder: str, slice_key: tuple, reason: str, details: str) -> None:
        for key, method in self.pane_methods.items():
            if method == slice_key[0] and slice_key == self._method_key(method):
                self.panes[key].title.setText(method_label(method, short=True))
                self.panes[key].show_message(f"Failed:\n{reason}")

    def _show_method(self, key: str, method: str, image: np.ndarray | None) -> None:
        pane = self.panes[key]
        geom = self.session.data.geometry(self.session.axis)
        pane.set_image(image, self.compare.levels(), geom.pixel_size)
        pane.title.setText(method_label(method, short=True))
        pane.show_message(None if image is not None else "Waiting for the network…")

    # -- error map -----------------------------------------------------------------------------
    def set_error_method(self, method: str) -> None:
        """Which method's |denoised − truth| the error pane shows."""
        self.check_method(method)
        self.error_method = method
        self._show_error_map()

    def _on_error_toggled(self, on: bool) -> None:
        self.compare.set_error_visible(on)
        self._show_error_map()

    def _show_error_map(self) -> None:
        pane = self.panes["error"]
        if not self.compare.error_visible or self.session.data is None:
            return
        geom = self.session.data.geometry(self.session.axis)
        pane.set_orientation_labels(geom.labels)
        truth, image = self.current.get("truth"), self.method_image(self.error_method)
        pane.title.setText(f"Error |{method_label(self.error_method)} − truth|")
        if truth is None or image is None:
            pane.set_image(None, (0, 1))
            pane.show_message("No ground truth" if truth is None else "Waiting for the denoised slice…")
            return
        level = max(float(self.session.data.residual_level or 0.0), 0.02)
        pane.set_image(error_map(image, truth), (0.0, level), geom.pixel_size)
        self.compare.error_bar.setLevels((0.0, level))
        pane.show_message(None)

    # -- metrics -------------------------------------------------------------------------------
    def _shown_methods(self) -> list[str]:
        return list(dict.fromkeys([NETWORK, *self.pane_methods.values()]))

    def _update_method_metrics(self) -> None:
        self._method_metrics_timer.start()

    def update_method_metrics(self) -> None:
        """One row per method; slice scores computed in a job, whole-volume ones from `method_scores`."""
        self._method_metrics_timer.stop()
        data = self.session.data
        truth, noisy = self.current.get("truth"), self.current.get("noisy")
        if data is None or truth is None or noisy is None:
            self.method_table.show_rows({})
            return
        images = {"noisy": noisy, **{m: self.method_image(m) for m in self._shown_methods()}}
        use_mask = self.metrics_panel.mask_check.isChecked()
        geom, index, token = data.geometry(self.session.axis), self.session.index, self._method_key("")

        def compute(state=None):
            mask = None
            if use_mask:
                full = data.foreground()
                mask = None if full is None else np.ascontiguousarray(geom.extract(full, index))
            return {m: (None if im is None else score_pair(truth, im, mask)) for m, im in images.items()}

        def done(scores):
            if token != self._method_key(""):
                return
            self.method_table.show_rows({m: {"slice": s, "volume": self._volume_score(m)} for m, s in scores.items()})

        self.tasks.run("method metrics", compute, done)

    def _volume_score(self, method: str) -> dict | None:
        if method == NETWORK or method == "noisy":
            result = self.session.data.volume_metrics if self.session.data is not None else None
            return None if result is None else result["noisy" if method == "noisy" else "denoised"]
        return self.method_scores.get(method)

    # -- whole volume --------------------------------------------------------------------------
    def _denoise_methods_volume(self) -> None:
        """After the network's whole volume: every shown classical method on the whole volume, scored."""
        data = self.session.data
        if data is None or data.noisy01 is None:
            return
        axis = int(data.geometry(self.session.axis).file_axis)
        token = self.session.noise_token
        use_mask = self.metrics_panel.mask_check.isChecked()
        for method in self._shown_methods():
            if method == NETWORK or self.method_volumes.get(method, (None,))[0] == token:
                continue
            if method.startswith(MODEL_PREFIX):
                strength = self.model_strength()
                self.extra_models.submit_volume(method[len(MODEL_PREFIX):], (method, token, use_mask, strength),
                                                data.noisy01, axis, strength)
                continue

            def work(state, m=method):
                from mri_denoise_gui.core import metrics

                volume = classical_volume(m, data.noisy01, axis, state)
                mask = data.foreground() if use_mask and data.truth01 is not None else None
                score = None if data.truth01 is None else metrics.volume_metrics(data.truth01, volume, mask)
                return volume, score

            self.tasks.run(f"volume {method}", work,
                           lambda result, m=method: self._on_method_volume(m, token, *result),
                           lambda r, d, m=method: self.show_error(f"Could not run {method_label(m)}", r, d),
                           on_progress=lambda p, m=method: self.statusBar().showMessage(
                               f"{method_label(m)} on the whole volume: {p} %", 5000))

    def _on_model_volume(self, folder: str, job: tuple, volume01: np.ndarray) -> None:
        """Another model's whole volume (from the inference thread): scored in the job runner."""
        method, token, use_mask, strength = job
        if strength == self.model_strength():  # else made at a strength no longer shown
            self._score_method_volume(method, token, volume01, use_mask)

    def _score_method_volume(self, method: str, token: int, volume01: np.ndarray, use_mask: bool) -> None:
        data = self.session.data
        if data is None or token != self.session.noise_token:
            return

        def score(state):
            from mri_denoise_gui.core import metrics

            if data.truth01 is None:
                return None
            return metrics.volume_metrics(data.truth01, volume01, data.foreground() if use_mask else None)

        self.tasks.run(f"volume {method}", score, lambda result: self._on_method_volume(method, token, volume01, result))

    def _on_method_volume(self, method: str, token: int, volume01: np.ndarray, score: dict | None) -> None:
        if token != self.session.noise_token:
            return
        self.method_volumes[method] = (token, volume01)
        if score is not None:
            self.method_scores[method] = score
        self._update_method_metrics()

    def _on_method_mask_changed(self, _on: bool) -> None:
        """Masked or not, every method is scored again (the whole volumes already made are kept)."""
        self.method_scores.clear()
        for method, (token, volume01) in list(self.method_volumes.items()):
            self._score_method_volume(method, token, volume01, self.metrics_panel.mask_check.isChecked())
        self._update_method_metrics()

    def _on_main_model_changed(self, _info) -> None:
        """Other models run at the main model's strength: when it changed, their whole volumes
        and scores are stale (their slices are keyed by strength, so the cache needs no clearing);
        classical filters' are not, and a new main model at the same strength changes none."""
        strength = self.model_strength()
        if strength == self._models_strength:
            return
        self._models_strength = strength
        for method in [m for m in self.method_volumes if m.startswith(MODEL_PREFIX)]:
            del self.method_volumes[method]
            self.method_scores.pop(method, None)

    def _drop_method_results(self, *_):
        """A new noisy volume: every method's slices, volumes and scores are stale."""
        for method in self._shown_methods():
            self.tasks.cancel(f"volume {method}")  # a whole-volume run for the old noisy volume
        self.method_cache.clear()
        self.method_volumes.clear()
        self.method_scores.clear()
