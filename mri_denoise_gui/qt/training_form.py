"""The training settings form: one editor per `TrainingConfig` field the user may edit.

Why dumb: the form never validates. It emits `configChanged` when the user edits it, reports
its fields with `values()`, and is updated with `set_values()` / `set_errors()` under
`QSignalBlocker`, so the dialog (which owns the config and calls `validate()`) is the single
source of truth and nothing loops. Labels, tool tips and choice lists come from the field
table in `ml/training_config.py`; each editor is bound once (`_bind`), and `values()` /
`set_values()` walk those bindings, so the form never lists its fields twice.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from PyQt6.QtCore import QSignalBlocker
from PyQt6.QtWidgets import (
    QAbstractItemView, QButtonGroup, QFileDialog, QGroupBox, QLabel, QLineEdit, QListWidget, QPushButton,
    QRadioButton, QVBoxLayout, QWidget,
)

from mri_denoise_gui.ml.modelfile import read_model_json  # TF-free by design
from mri_denoise_gui.qt.config_editors import (
    EDITOR_TYPES, ConfigEditors, error_label, is_number, line, make_buttons, select,
)

EMA_MOMENTUM = 0.999  # what the "moving average" box turns on (the default recipe's stage 3)
NIFTI_FILTER = "NIfTI volumes (*.nii *.nii.gz);;All files (*)"


def model_architecture(folder) -> str | None:
    """The architecture named in a model folder's model.json (no TensorFlow needed)."""
    try:
        return str(read_model_json(folder).get("architecture")) or None
    except Exception:  # a missing or broken model: validate() explains it under "Start"
        return None


class TrainingForm(ConfigEditors):
    """Grouped editors for data, model, optimisation, noise, split and output folder."""

    SHARED_ROW_NAMES = {"epochs": "epochs", "steps_per_epoch": "steps", "batch_size": "batch size",
                        "patch_size": "patch size"}

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.current_model_dir: str | None = None
        self._scratch_arch: str | None = None  # the user's choice, kept while fine-tuning shows the model's
        self.current_volume_path: str | None = None
        self.current_volume_index = 0
        self._last_dir = str(Path.home())

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for build in (self._build_data_group, self._build_model_group, self._build_optimiser_group,
                      self._build_noise_group, self._build_output_group):
            layout.addWidget(build())
        more = QGroupBox("More settings")
        more.setObjectName("generatedSettingsGroup")
        if self.generated_rows(self._form(more)):  # labelled fields no group above shows
            layout.addWidget(more)
        self.other_errors = error_label("other")
        self.other_errors.setObjectName("otherErrorsLabel")
        layout.addWidget(self.other_errors)
        layout.addStretch(1)
        self.set_current_model(None)
        self.set_current_volume(None)

    # -- the groups ---------------------------------------------------------------------------
    def _build_data_group(self) -> QGroupBox:
        group = QGroupBox("Training data")
        v = QVBoxLayout(group)
        v.setSpacing(4)
        self.data_list = QListWidget()
        self.data_list.setObjectName("dataList")
        self.data_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.data_list.setToolTip("Clean NIfTI volumes or folders of them; train and validation are split by volume")
        self.data_list.setMaximumHeight(78)
        self._bind("data", self.data_paths, self._put_data)
        v.addWidget(self.data_list)
        buttons = make_buttons(
            self, ("add_files_button", "Files…", "addFilesButton", self._on_add_files_clicked),
            ("add_folder_button", "Folder…", "addFolderButton", self._on_add_folder_clicked),
            ("add_current_button", "Open volume", "addCurrentVolumeButton", self.add_current_volume),
            ("remove_button", "Remove", "removeDataButton", self._on_remove_clicked))
        v.addWidget(line(*buttons))
        self._synthetic_available = importlib.util.find_spec("nilearn") is not None
        self.synthetic_check = self._check("synthetic", "syntheticCheck",
                                           "synthetic images from the MNI152 template instead")
        self.synthetic_check.setEnabled(self._synthetic_available)
        self._bind("synthetic", self.synthetic_check.isChecked,
                   lambda v: self.synthetic_check.setChecked(bool(v) and self._synthetic_available))
        self.synthetic_check.setToolTip(
            "Random T1/T2/PD/FLAIR/EPI-like contrasts, bias fields, resolutions and backgrounds built from "
            "nilearn's MNI152 maps: what the shipped models were trained on" if self._synthetic_available
            else "needs nilearn, which holds the template: pip install nilearn")
        self.synthetic_check.toggled.connect(self._enable_data_editors)
        v.addWidget(self.synthetic_check)
        self.error_labels["data"] = error_label("data")
        v.addWidget(self.error_labels["data"])
        self.editors["data"] = self.data_list
        form = self._form()
        v.addLayout(form)
        self.norm_combo = self._combo("normalizer", "normalizerCombo", items=("percentile", "minmax"), bind=False)
        self.norm_low_spin = self._dspin("normalizerLowSpin", 0.0, 100.0, 0.5, 1, " %")
        self.norm_high_spin = self._dspin("normalizerHighSpin", 0.0, 100.0, 0.5, 1, " %")
        self._bind("normalizer", self._normalizer, self._put_normalizer)
        self._row(form, "normalizer", line(self.norm_combo, self.norm_low_spin, "to", self.norm_high_spin, stretch=0))
        self.volume_index_spin = self._spin("trainVolumeIndexSpin", 0, 9999, field="volume_index")
        self._row(form, "volume_index", self.volume_index_spin)
        return group

    def _build_model_group(self) -> QGroupBox:
        group = QGroupBox("Network")
        form = self._form(group)
        self.arch_combo = self._combo("arch", "archCombo")
        self._row(form, "arch", self.arch_combo)
        self.scratch_radio = QRadioButton("From scratch")
        self.scratch_radio.setObjectName("scratchRadio")
        self.finetune_radio = QRadioButton("Fine-tune current model")
        self.finetune_radio.setObjectName("fineTuneRadio")
        self.scratch_radio.setChecked(True)
        self._start_group = QButtonGroup(self)
        self._start_group.addButton(self.scratch_radio)
        self._start_group.addButton(self.finetune_radio)
        self._row(form, "init_from", line(self.scratch_radio, self.finetune_radio, QWidget(), stretch=2), tip="")
        self._bind("init_from", lambda: self.current_model_dir if self._fine_tuning() else None,
                   lambda v: (self.finetune_radio if v and self.current_model_dir else self.scratch_radio).setChecked(True))
        self.finetune_radio.toggled.connect(self._on_start_changed)
        return group

    def _build_optimiser_group(self) -> QGroupBox:
        group = QGroupBox("Optimisation")
        form = self._form(group)
        self.epochs_spin = self._spin("epochsSpin", 0, 10_000, field="epochs")
        self.steps_spin = self._spin("stepsSpin", 0, 100_000, 10, field="steps_per_epoch")
        self._row(form, "epochs", line(self.epochs_spin, "× steps", self.steps_spin))
        self._share_row("steps_per_epoch", "epochs", self.steps_spin)
        self.editors["epochs"] = self.epochs_spin
        self.batch_spin = self._spin("batchSizeSpin", 0, 1024, field="batch_size")
        self.patch_spin = self._spin("patchSizeSpin", 8, 1024, 8, " px", field="patch_size")
        self._row(form, "batch_size", line(self.batch_spin, "patches of", self.patch_spin))
        self._share_row("patch_size", "batch_size", self.patch_spin)
        self.editors["batch_size"] = self.batch_spin
        self.lr_spin = self._dspin("learningRateSpin", 0.0, 0.99, 0.0001, 5, field="learning_rate")
        self.schedule_combo = self._combo("lr_schedule", "lrScheduleCombo")
        self.schedule_combo.setToolTip("Halve the rate whenever the validation loss stops improving, or let it fall "
                                       "along a half cosine to 2% over the epochs (a fixed budget, no stall test)")
        self._row(form, "learning_rate", line(self.lr_spin, self.schedule_combo, stretch=1))
        self._share_row("lr_schedule", "learning_rate", self.schedule_combo)
        self.editors["learning_rate"] = self.lr_spin
        self.loss_combo = self._combo("loss", "lossCombo")
        self._row(form, "loss", self.loss_combo)
        self.ema_check = self._check("ema_momentum", "emaCheck", "keep a moving average of the weights",
                                     on=EMA_MOMENTUM, off=0.0)
        self._row(form, "ema_momentum", self.ema_check,
                  "Validate and save an exponential moving average of the weights (momentum 0.999) instead of "
                  "the last step's: smoother checkpoints in long, low-rate runs (the default model's last stage uses it)")
        self.seed_spin = self._spin("trainSeedSpin", 0, 2**31 - 1, field="seed")
        self._row(form, "seed", self.seed_spin)
        return group

    def _build_noise_group(self) -> QGroupBox:
        group = QGroupBox("Noise and split")
        form = self._form(group)
        self.noise_combo = self._combo("noise_kind", "trainNoiseKindCombo")
        self._row(form, "noise_kind", self.noise_combo)
        self.var_low_spin = self._dspin("varianceLowSpin", 0.0, 0.5, 0.0005, 5)
        self.var_high_spin = self._dspin("varianceHighSpin", 0.0, 0.5, 0.0005, 5)
        self._bind("variance_range", lambda: [self.var_low_spin.value(), self.var_high_spin.value()],
                   self._put_variances)
        self._row(form, "variance_range", line(self.var_low_spin, "to", self.var_high_spin),
                  "Noise variance on the [0, 1] image, drawn per patch (uniform in sigma)")
        self.sigma_label = QLabel()
        self.sigma_label.setObjectName("sigmaRangeLabel")
        self.sigma_label.setStyleSheet("color: #9aa0a8;")
        form.addRow("", self.sigma_label)
        self.weighting_check = self._check("noise_weighting", "noiseWeightingCheck",
                                           "count low noise as much as high (weight by 1/σ)", on="inverse_sigma",
                                           off="none")
        self._row(form, "noise_weighting", self.weighting_check,
                  "Errors grow with the noise level, so unweighted the noisiest patches dominate the loss; "
                  "weighting each patch by 1/sigma helps at low noise (the default model's last stage uses it)")
        self.val_spin = self._dspin("valFractionSpin", 0.0, 0.95, 0.05, 2, field="val_fraction")
        self._row(form, "val_fraction", self.val_spin,
                  "Fraction of volumes kept for validation (one volume: a slab, with a gap)")
        self.central_spin = self._spin("centralSlicesSpin", 1, 100, 5, " %", field="central_fraction", scale=100)
        self.all_axes_check = self._check("all_axes", "allAxesCheck", "all three axes")
        self._row(form, "central_fraction", line(self.central_spin, self.all_axes_check),
                  "Keep the central part of each volume's slices (the tutorial kept 100 of 128)")
        self.editors["central_fraction"] = self.central_spin
        return group

    def _build_output_group(self) -> QGroupBox:
        group = QGroupBox("Output")
        form = self._form(group)
        self.out_edit = QLineEdit()
        self.out_edit.setObjectName("outputEdit")
        self.out_edit.setPlaceholderText("folder for model.keras + model.json")
        self.out_edit.textChanged.connect(self._on_value_changed)
        self._bind("out", lambda: str(Path(self.out_edit.text().strip()).expanduser()) if self.out_edit.text().strip()
                   else "", lambda v: self.out_edit.setText(str(v or "")))
        self.out_button = QPushButton("Browse…")
        self.out_button.setObjectName("outputBrowseButton")
        self.out_button.clicked.connect(self._on_browse_output_clicked)
        self._row(form, "out", line(self.out_edit, self.out_button, stretch=0), tip="")
        self.editors["out"] = self.out_edit
        self.monitor_combo = self._combo("monitor", "monitorCombo")
        self._row(form, "monitor", self.monitor_combo)
        self.tensorboard_check = self._check("tensorboard", "tensorboardCheck", "TensorBoard logs beside the model folder")
        self._row(form, "tensorboard", self.tensorboard_check)
        return group

    # -- choices and context ----------------------------------------------------------------
    def set_current_model(self, folder) -> None:
        self.current_model_dir = str(folder) if folder else None
        name = Path(folder).name if folder else None
        self.finetune_radio.setEnabled(bool(folder))
        self.finetune_radio.setText(f"Fine-tune {name}" if name else "Fine-tune current model")
        self.finetune_radio.setToolTip(str(folder) if folder else "No model is loaded in the main window")
        if not folder and self.finetune_radio.isChecked():
            self.scratch_radio.setChecked(True)
        self._show_start_arch()

    def set_current_volume(self, path, volume_index: int = 0) -> None:
        """The main window's volume (and, for a 4D file, the volume shown): what "Open volume" adds."""
        self.current_volume_path = str(path) if path else None
        self.current_volume_index = int(volume_index) if path else 0
        self.add_current_button.setEnabled(bool(path) and not self.synthetic_check.isChecked())
        self.add_current_button.setToolTip(f"Add {path}" if path else "No volume is open in the main window")

    # -- values in and out -------------------------------------------------------------------
    def data_paths(self) -> list[str]:
        return [self.data_list.item(i).text() for i in range(self.data_list.count())]

    def _after_set_values(self) -> None:
        self._enable_data_editors()
        self._show_start_arch()
        self._update_sigma_label()

    def _put_data(self, paths) -> None:
        self.data_list.clear()
        self.data_list.addItems([str(p) for p in paths or []])

    def _put_variances(self, pair) -> None:
        if isinstance(pair, (list, tuple)) and len(pair) == 2 and all(map(is_number, pair)):
            self.var_low_spin.setValue(float(pair[0]))
            self.var_high_spin.setValue(float(pair[1]))

    def _normalizer(self) -> dict:
        return {"method": self.norm_combo.currentData(), "low": round(self.norm_low_spin.value(), 4),
                "high": round(self.norm_high_spin.value(), 4)}

    def _put_normalizer(self, norm) -> None:
        if isinstance(norm, dict):
            select(self.norm_combo, norm.get("method"))
            for spin, key in ((self.norm_low_spin, "low"), (self.norm_high_spin, "high")):
                if is_number(norm.get(key)):
                    spin.setValue(float(norm[key]))

    def set_editable(self, editable: bool) -> None:
        """Lock the form while a run uses its settings."""
        for child in self.findChildren(EDITOR_TYPES):
            child.setEnabled(editable)
        if editable:
            self.set_current_model(self.current_model_dir)
            self.synthetic_check.setEnabled(self._synthetic_available)
            self._enable_data_editors()
            self.arch_combo.setEnabled(not self.finetune_radio.isChecked())

    # -- user edits ----------------------------------------------------------------------------
    def add_paths(self, paths) -> None:
        existing = set(self.data_paths())
        new = [str(p) for p in paths if p and str(p) not in existing]
        if new:
            self.data_list.addItems(new)
            self.configChanged.emit()

    def add_current_volume(self) -> None:
        if self.current_volume_path:
            if self.current_volume_index:  # the volume of a 4D file the window shows: train on it too
                self.volume_index_spin.setValue(self.current_volume_index)
            self.add_paths([self.current_volume_path])

    def _on_add_files_clicked(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add training volumes", self._last_dir, NIFTI_FILTER)
        if files:
            self._last_dir = str(Path(files[0]).parent)
            self.add_paths(files)

    def _on_add_folder_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of NIfTI volumes", self._last_dir)
        if folder:
            self._last_dir = folder
            self.add_paths([folder])

    def _on_remove_clicked(self) -> None:
        rows = sorted((self.data_list.row(i) for i in self.data_list.selectedItems()), reverse=True)
        for row in rows:
            self.data_list.takeItem(row)
        if rows:
            self.configChanged.emit()

    def _on_browse_output_clicked(self) -> None:
        start = self.out_edit.text().strip() or self._last_dir
        folder, _ = QFileDialog.getSaveFileName(self, "Folder for the trained model", start, "Model folder (*)")
        if folder:
            self.out_edit.setText(folder)

    def _fine_tuning(self) -> bool:
        return self.finetune_radio.isChecked() and bool(self.current_model_dir)

    def _on_start_changed(self, _checked: bool) -> None:
        self._show_start_arch()
        self.configChanged.emit()

    def _show_start_arch(self) -> None:
        """Fine-tuning keeps the model's own network: show it (read-only); scratch restores the choice."""
        finetune = self._fine_tuning()
        self.arch_combo.setEnabled(not finetune)
        with QSignalBlocker(self.arch_combo):
            if finetune:
                if self._scratch_arch is None:
                    self._scratch_arch = self.arch_combo.currentData()
                select(self.arch_combo, model_architecture(self.current_model_dir))
            elif self._scratch_arch is not None:
                select(self.arch_combo, self._scratch_arch)
                self._scratch_arch = None

    def _enable_data_editors(self) -> None:
        """Synthetic data replaces the file list (and its 4D choice), so those editors are inert while
        it is chosen; the normalisation stays editable: the model applies it to every scan it denoises."""
        files = not self.synthetic_check.isChecked()
        for w in (self.data_list, self.add_files_button, self.add_folder_button, self.remove_button,
                  self.volume_index_spin):
            w.setEnabled(files)
        self._enable_percentiles()
        self.set_current_volume(self.current_volume_path, self.current_volume_index)

    def _on_value_changed(self, *_args) -> None:
        self._update_sigma_label()
        self._enable_percentiles()
        self.configChanged.emit()

    def _enable_percentiles(self) -> None:
        """Min-max has no percentiles: their boxes are inert while it is chosen."""
        percentile = self.norm_combo.currentData() == "percentile" and self.norm_combo.isEnabled()
        self.norm_low_spin.setEnabled(percentile)
        self.norm_high_spin.setEnabled(percentile)

    def _update_sigma_label(self) -> None:
        low, high = self.var_low_spin.value(), self.var_high_spin.value()
        self.sigma_label.setText(f"σ {100 * math.sqrt(max(low, 0)):.1f}% to {100 * math.sqrt(max(high, 0)):.1f}%"
                                 " of the normalised range")
