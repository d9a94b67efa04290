"""The training settings form: one widget per `TrainingConfig` field the user may edit.

Why dumb: the form never validates. It emits `configChanged` when the user edits it, reports
its fields with `values()`, and is updated with `set_values()` / `set_errors()` under
`QSignalBlocker`, so the dialog (which owns the config and calls `validate()`) is the single
source of truth and nothing loops.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from PyQt6.QtCore import QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from mri_denoise_gui.core.noise import NOISE_KINDS

#: Shown until the worker reports the real lists from ml/ (which needs TensorFlow).
FALLBACK_ARCHITECTURES = ("resunet", "seed-autoencoder", "tiny")
FALLBACK_LOSSES = ("ssim", "ssim_l1", "l1")
FALLBACK_NOISE_KINDS = NOISE_KINDS + ("rician+gaussian",)
LOSS_LABELS = {"ssim": "SSIM (as the tutorial)", "ssim_l1": "SSIM + L1", "l1": "L1"}
MONITOR_LABELS = {"val_loss": "validation loss", "val_ssim_metric": "validation SSIM",
                  "val_psnr_metric": "validation PSNR"}
SCHEDULE_LABELS = {"plateau": "halve when validation stalls", "cosine": "cosine down to 2%"}
EMA_MOMENTUM = 0.999  # what the "moving average" box turns on (the default recipe's stage 3)
NOISE_LABELS = {"rician+gaussian": "rician + gaussian (blind)"}
NORMALIZER_LABELS = {"percentile": "percentiles", "minmax": "min to max (as the tutorial)"}
NIFTI_FILTER = "NIfTI volumes (*.nii *.nii.gz);;All files (*)"
INVALID_STYLE = "border: 1px solid #e05d5d; border-radius: 2px;"
ERROR_STYLE = "color: #ff8a80; font-size: 11px;"
#: fields that share a row (and its error label) with another: their reasons say which is meant
SHARED_ROW_NAMES = {"epochs": "epochs", "steps_per_epoch": "steps", "batch_size": "batch size",
                    "patch_size": "patch size"}


def model_architecture(folder) -> str | None:
    """The architecture named in a model folder's model.json (no TensorFlow needed)."""
    from mri_denoise_gui.ml.modelfile import read_model_json  # TF-free by design

    try:
        return str(read_model_json(folder).get("architecture")) or None
    except Exception:  # a missing or broken model: validate() explains it under "Start"
        return None


def _error_label(field: str) -> QLabel:
    label = QLabel()
    label.setObjectName(f"error_{field}")
    label.setStyleSheet(ERROR_STYLE)
    label.setWordWrap(True)
    label.setVisible(False)
    return label


def _set_combo_items(combo: QComboBox, items, labels: dict) -> None:
    current = combo.currentData()
    with QSignalBlocker(combo):
        combo.clear()
        for item in items:
            combo.addItem(labels.get(item, item), item)
        index = combo.findData(current)
        combo.setCurrentIndex(max(index, 0))


class TrainingForm(QWidget):
    """Grouped editors for data, model, optimisation, noise, split and output folder."""

    configChanged = pyqtSignal()

    #: config fields this form owns (everything else in the config is kept as it is)
    FIELDS = ("data", "synthetic", "arch", "init_from", "epochs", "steps_per_epoch", "batch_size", "patch_size",
              "learning_rate", "loss", "seed", "noise_kind", "variance_range", "val_fraction",
              "central_fraction", "all_axes", "noise_weighting", "ema_momentum", "out", "monitor", "tensorboard",
              "normalizer", "volume_index", "lr_schedule")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.current_model_dir: str | None = None
        self._scratch_arch: str | None = None  # the user's choice, kept while fine-tuning shows the model's
        self.current_volume_path: str | None = None
        self.current_volume_index = 0
        self._last_dir = str(Path.home())
        self.error_labels: dict[str, QLabel] = {}
        self.editors: dict[str, QWidget] = {}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._build_data_group())
        layout.addWidget(self._build_model_group())
        layout.addWidget(self._build_optimiser_group())
        layout.addWidget(self._build_noise_group())
        layout.addWidget(self._build_output_group())
        self.other_errors = QLabel()
        self.other_errors.setObjectName("otherErrorsLabel")
        self.other_errors.setStyleSheet(ERROR_STYLE)
        self.other_errors.setWordWrap(True)
        self.other_errors.setVisible(False)
        layout.addWidget(self.other_errors)
        layout.addStretch(1)
        self.set_current_model(None)
        self.set_current_volume(None)

    # -- building -------------------------------------------------------------------------
    def _row(self, form: QFormLayout, label: str, field: str, editor: QWidget, tip: str = "") -> None:
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(1)
        v.addWidget(editor)
        self.error_labels[field] = _error_label(field)
        v.addWidget(self.error_labels[field])
        if tip:
            editor.setToolTip(tip)
        self.editors.setdefault(field, editor)
        form.addRow(label, box)

    @staticmethod
    def _form(group: QGroupBox) -> QFormLayout:
        form = QFormLayout(group)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(4)
        return form

    def _build_data_group(self) -> QGroupBox:
        group = QGroupBox("Training data")
        v = QVBoxLayout(group)
        v.setSpacing(4)
        self.data_list = QListWidget()
        self.data_list.setObjectName("dataList")
        self.data_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.data_list.setToolTip("Clean NIfTI volumes or folders of them; train and validation are split by volume")
        self.data_list.setMaximumHeight(78)
        v.addWidget(self.data_list)
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        self.add_files_button = QPushButton("Files…")
        self.add_files_button.setObjectName("addFilesButton")
        self.add_folder_button = QPushButton("Folder…")
        self.add_folder_button.setObjectName("addFolderButton")
        self.add_current_button = QPushButton("Open volume")
        self.add_current_button.setObjectName("addCurrentVolumeButton")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("removeDataButton")
        for b in (self.add_files_button, self.add_folder_button, self.add_current_button, self.remove_button):
            buttons.addWidget(b)
        v.addLayout(buttons)
        self.synthetic_check = QCheckBox("synthetic images from the MNI152 template instead")
        self.synthetic_check.setObjectName("syntheticCheck")
        self._synthetic_available = importlib.util.find_spec("nilearn") is not None
        if not self._synthetic_available:
            self.synthetic_check.setEnabled(False)
            self.synthetic_check.setToolTip("needs nilearn, which holds the template: pip install nilearn")
        else:
            self.synthetic_check.setToolTip(
                "Random T1/T2/PD/FLAIR/EPI-like contrasts, bias fields, resolutions and backgrounds built "
                "from nilearn's MNI152 maps: what the shipped models were trained on")
        self.synthetic_check.toggled.connect(self._on_synthetic_toggled)
        v.addWidget(self.synthetic_check)
        self.error_labels["data"] = _error_label("data")
        v.addWidget(self.error_labels["data"])
        self.editors["data"] = self.data_list
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.setHorizontalSpacing(8)
        v.addLayout(form)
        self.norm_combo = QComboBox()
        self.norm_combo.setObjectName("normalizerCombo")
        _set_combo_items(self.norm_combo, tuple(NORMALIZER_LABELS), NORMALIZER_LABELS)
        self.norm_combo.currentIndexChanged.connect(self._on_value_changed)
        self.norm_low_spin = self._dspin("normalizerLowSpin", 0.0, 100.0, 0.5, 1, " %")
        self.norm_high_spin = self._dspin("normalizerHighSpin", 0.0, 100.0, 0.5, 1, " %")
        row = QWidget()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.norm_combo, 1)
        h.addWidget(self.norm_low_spin)
        h.addWidget(QLabel("to"))
        h.addWidget(self.norm_high_spin)
        self._row(form, "Normalise", "normalizer", row,
                  "How each volume is mapped to [0, 1] for training, and by the model for every scan it "
                  "denoises: robust percentiles keep a few hot voxels from squashing the contrast "
                  "(the shipped models use 0.5 to 99.5%)")
        self.volume_index_spin = self._spin("trainVolumeIndexSpin", 0, 9999)
        self._row(form, "4D volume", "volume_index", self.volume_index_spin,
                  "Which volume of 4D files to train on (a time point or b-value, from 0); 3D files are read as they are")
        self.add_files_button.clicked.connect(self._on_add_files_clicked)
        self.add_folder_button.clicked.connect(self._on_add_folder_clicked)
        self.add_current_button.clicked.connect(self.add_current_volume)
        self.remove_button.clicked.connect(self._on_remove_clicked)
        return group

    def _build_model_group(self) -> QGroupBox:
        group = QGroupBox("Network")
        form = self._form(group)
        self.arch_combo = QComboBox()
        self.arch_combo.setObjectName("archCombo")
        _set_combo_items(self.arch_combo, FALLBACK_ARCHITECTURES, {})
        self._row(form, "Architecture", "arch", self.arch_combo,
                  "resunet: the default; seed-autoencoder: the tutorial's network; tiny: for quick tests")
        start = QWidget()
        h = QHBoxLayout(start)
        h.setContentsMargins(0, 0, 0, 0)
        self.scratch_radio = QRadioButton("From scratch")
        self.scratch_radio.setObjectName("scratchRadio")
        self.finetune_radio = QRadioButton("Fine-tune current model")
        self.finetune_radio.setObjectName("fineTuneRadio")
        self.scratch_radio.setChecked(True)
        self._start_group = QButtonGroup(self)
        self._start_group.addButton(self.scratch_radio)
        self._start_group.addButton(self.finetune_radio)
        h.addWidget(self.scratch_radio)
        h.addWidget(self.finetune_radio)
        h.addStretch(1)
        self._row(form, "Start", "init_from", start)
        self.arch_combo.currentIndexChanged.connect(self._on_arch_changed)
        self.finetune_radio.toggled.connect(self._on_start_changed)
        return group

    def _spin(self, name: str, lo: int, hi: int, step: int = 1, suffix: str = "") -> QSpinBox:
        spin = QSpinBox()
        spin.setObjectName(name)
        spin.setRange(lo, hi)
        spin.setSingleStep(step)
        spin.setSuffix(suffix)
        spin.setKeyboardTracking(False)
        spin.valueChanged.connect(self._on_value_changed)
        return spin

    def _dspin(self, name: str, lo: float, hi: float, step: float, decimals: int, suffix: str = "") -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setObjectName(name)
        spin.setRange(lo, hi)
        spin.setSingleStep(step)
        spin.setDecimals(decimals)
        spin.setSuffix(suffix)
        spin.setKeyboardTracking(False)
        spin.valueChanged.connect(self._on_value_changed)
        return spin

    def _build_optimiser_group(self) -> QGroupBox:
        group = QGroupBox("Optimisation")
        form = self._form(group)
        self.epochs_spin = self._spin("epochsSpin", 0, 10_000)
        self.steps_spin = self._spin("stepsSpin", 0, 100_000, 10)
        self.batch_spin = self._spin("batchSizeSpin", 0, 1024)
        self.patch_spin = self._spin("patchSizeSpin", 8, 1024, 8, " px")
        self.lr_spin = self._dspin("learningRateSpin", 0.0, 0.99, 0.0001, 5)
        self.loss_combo = QComboBox()
        self.loss_combo.setObjectName("lossCombo")
        _set_combo_items(self.loss_combo, FALLBACK_LOSSES, LOSS_LABELS)
        self.loss_combo.currentIndexChanged.connect(self._on_value_changed)
        self.seed_spin = self._spin("trainSeedSpin", 0, 2**31 - 1)
        pair = QWidget()
        h = QHBoxLayout(pair)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.epochs_spin)
        h.addWidget(QLabel("× steps"))
        h.addWidget(self.steps_spin)
        self._row(form, "Epochs", "epochs", pair, "Epochs, and training batches in each epoch")
        self.error_labels["steps_per_epoch"] = self.error_labels["epochs"]  # one row, one label
        self.editors["steps_per_epoch"] = self.steps_spin
        self.editors["epochs"] = self.epochs_spin
        pair = QWidget()
        h = QHBoxLayout(pair)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.batch_spin)
        h.addWidget(QLabel("patches of"))
        h.addWidget(self.patch_spin)
        self._row(form, "Batch", "batch_size", pair, "Patches per batch, and their side in pixels")
        self.editors["batch_size"] = self.batch_spin
        self.error_labels["patch_size"] = self.error_labels["batch_size"]
        self.editors["patch_size"] = self.patch_spin
        self.schedule_combo = QComboBox()
        self.schedule_combo.setObjectName("lrScheduleCombo")
        _set_combo_items(self.schedule_combo, tuple(SCHEDULE_LABELS), SCHEDULE_LABELS)
        self.schedule_combo.setToolTip("Halve the rate whenever the validation loss stops improving, or let it fall "
                                       "along a half cosine to 2% over the epochs (a fixed budget, no stall test)")
        self.schedule_combo.currentIndexChanged.connect(self._on_value_changed)
        pair = QWidget()
        h = QHBoxLayout(pair)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.lr_spin)
        h.addWidget(self.schedule_combo, 1)
        self._row(form, "Learning rate", "learning_rate", pair, "Adam's initial learning rate, and how it falls")
        self.editors["learning_rate"] = self.lr_spin
        self.error_labels["lr_schedule"] = self.error_labels["learning_rate"]
        self.editors["lr_schedule"] = self.schedule_combo
        self._row(form, "Loss", "loss", self.loss_combo)
        self.ema_check = QCheckBox("keep a moving average of the weights")
        self.ema_check.setObjectName("emaCheck")
        self.ema_check.toggled.connect(self._on_value_changed)
        self._row(form, "", "ema_momentum", self.ema_check,
                  "Validate and save an exponential moving average of the weights (momentum 0.999) "
                  "instead of the last step's: smoother checkpoints in long, low-rate runs "
                  "(the default model's last stage uses it)")
        self._row(form, "Seed", "seed", self.seed_spin, "Makes the split, patches and noise reproducible")
        return group

    def _build_noise_group(self) -> QGroupBox:
        group = QGroupBox("Noise and split")
        form = self._form(group)
        self.noise_combo = QComboBox()
        self.noise_combo.setObjectName("trainNoiseKindCombo")
        _set_combo_items(self.noise_combo, FALLBACK_NOISE_KINDS, NOISE_LABELS)
        self.noise_combo.currentIndexChanged.connect(self._on_value_changed)
        self._row(form, "Noise", "noise_kind", self.noise_combo)
        self.var_low_spin = self._dspin("varianceLowSpin", 0.0, 0.5, 0.0005, 5)
        self.var_high_spin = self._dspin("varianceHighSpin", 0.0, 0.5, 0.0005, 5)
        pair = QWidget()
        h = QHBoxLayout(pair)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.var_low_spin)
        h.addWidget(QLabel("to"))
        h.addWidget(self.var_high_spin)
        self._row(form, "Variance", "variance_range", pair,
                  "Noise variance on the [0, 1] image, drawn per patch (uniform in sigma)")
        self.sigma_label = QLabel()
        self.sigma_label.setObjectName("sigmaRangeLabel")
        self.sigma_label.setStyleSheet("color: #9aa0a8;")
        form.addRow("", self.sigma_label)
        self.weighting_check = QCheckBox("count low noise as much as high (weight by 1/σ)")
        self.weighting_check.setObjectName("noiseWeightingCheck")
        self.weighting_check.toggled.connect(self._on_value_changed)
        self._row(form, "", "noise_weighting", self.weighting_check,
                  "Errors grow with the noise level, so unweighted the noisiest patches dominate the loss; "
                  "weighting each patch by 1/sigma helps at low noise (the default model's last stage uses it)")
        self.val_spin = self._dspin("valFractionSpin", 0.0, 0.95, 0.05, 2)
        self._row(form, "Validation", "val_fraction", self.val_spin,
                  "Fraction of volumes kept for validation (one volume: a slab, with a gap)")
        self.central_spin = self._spin("centralSlicesSpin", 1, 100, 5, " %")
        self.all_axes_check = QCheckBox("all three axes")
        self.all_axes_check.setObjectName("allAxesCheck")
        self.all_axes_check.toggled.connect(self._on_value_changed)
        pair = QWidget()
        h = QHBoxLayout(pair)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.central_spin)
        h.addWidget(self.all_axes_check)
        self._row(form, "Central slices", "central_fraction", pair,
                  "Keep the central part of each volume's slices (the tutorial kept 100 of 128)")
        self.editors["central_fraction"] = self.central_spin
        return group

    def _build_output_group(self) -> QGroupBox:
        group = QGroupBox("Output")
        form = self._form(group)
        row = QWidget()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        self.out_edit = QLineEdit()
        self.out_edit.setObjectName("outputEdit")
        self.out_edit.setPlaceholderText("folder for model.keras + model.json")
        self.out_edit.textChanged.connect(self._on_value_changed)
        self.out_button = QPushButton("Browse…")
        self.out_button.setObjectName("outputBrowseButton")
        self.out_button.clicked.connect(self._on_browse_output_clicked)
        h.addWidget(self.out_edit, 1)
        h.addWidget(self.out_button)
        self._row(form, "Model folder", "out", row)
        self.editors["out"] = self.out_edit
        self.monitor_combo = QComboBox()
        self.monitor_combo.setObjectName("monitorCombo")
        _set_combo_items(self.monitor_combo, tuple(MONITOR_LABELS), MONITOR_LABELS)
        self.monitor_combo.currentIndexChanged.connect(self._on_value_changed)
        self._row(form, "Keep the best by", "monitor", self.monitor_combo,
                  "Which validation score picks the checkpoint that is saved (compare losses only within one loss)")
        self.tensorboard_check = QCheckBox("TensorBoard logs beside the model folder")
        self.tensorboard_check.setObjectName("tensorboardCheck")
        self.tensorboard_check.toggled.connect(self._on_value_changed)
        self._row(form, "", "tensorboard", self.tensorboard_check,
                  "Writes <model folder>_tensorboard for `tensorboard --logdir`")
        return group

    # -- choices and context ----------------------------------------------------------------
    def set_choices(self, architectures, losses, noise_kinds) -> None:
        """The real lists from ml/, once the worker has imported it."""
        _set_combo_items(self.arch_combo, architectures, {})
        _set_combo_items(self.loss_combo, losses, LOSS_LABELS)
        _set_combo_items(self.noise_combo, noise_kinds, NOISE_LABELS)

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

    def values(self) -> dict:
        """The fields this form owns, as `TrainingConfig` wants them."""
        low, high = self.var_low_spin.value(), self.var_high_spin.value()
        finetune = self.finetune_radio.isChecked() and bool(self.current_model_dir)
        return {
            "data": self.data_paths(),
            "synthetic": self.synthetic_check.isChecked(),
            "arch": self.arch_combo.currentData() or self.arch_combo.currentText(),
            "init_from": self.current_model_dir if finetune else None,
            "epochs": self.epochs_spin.value(),
            "steps_per_epoch": self.steps_spin.value(),
            "batch_size": self.batch_spin.value(),
            "patch_size": self.patch_spin.value(),
            "learning_rate": self.lr_spin.value(),
            "lr_schedule": self.schedule_combo.currentData(),
            "loss": self.loss_combo.currentData(),
            "seed": self.seed_spin.value(),
            "noise_kind": self.noise_combo.currentData(),
            "variance_range": [low, high],
            "val_fraction": round(self.val_spin.value(), 4),
            "central_fraction": round(self.central_spin.value() / 100.0, 4),
            "all_axes": self.all_axes_check.isChecked(),
            "noise_weighting": "inverse_sigma" if self.weighting_check.isChecked() else "none",
            "ema_momentum": EMA_MOMENTUM if self.ema_check.isChecked() else 0.0,
            "monitor": self.monitor_combo.currentData(),
            "tensorboard": self.tensorboard_check.isChecked(),
            "normalizer": {"method": self.norm_combo.currentData(), "low": round(self.norm_low_spin.value(), 4),
                           "high": round(self.norm_high_spin.value(), 4)},
            "volume_index": self.volume_index_spin.value(),
            "out": str(Path(self.out_edit.text().strip()).expanduser()) if self.out_edit.text().strip() else "",
        }

    def set_values(self, config: dict) -> None:
        """Show ``config`` without emitting `configChanged` (signals blocked)."""
        blockers = [QSignalBlocker(w) for w in (
            self.data_list, self.arch_combo, self.scratch_radio, self.finetune_radio, self.epochs_spin,
            self.steps_spin, self.batch_spin, self.patch_spin, self.lr_spin, self.loss_combo, self.seed_spin,
            self.noise_combo, self.var_low_spin, self.var_high_spin, self.val_spin, self.central_spin,
            self.all_axes_check, self.weighting_check, self.ema_check, self.synthetic_check, self.out_edit,
            self.monitor_combo, self.tensorboard_check, self.norm_combo, self.norm_low_spin,
            self.norm_high_spin, self.volume_index_spin, self.schedule_combo)]
        try:
            if "data" in config:
                self.data_list.clear()
                self.data_list.addItems([str(p) for p in config.get("data") or []])
            self._select(self.arch_combo, config.get("arch"))
            finetune = bool(config.get("init_from")) and bool(self.current_model_dir)
            (self.finetune_radio if finetune else self.scratch_radio).setChecked(True)
            for spin, key in ((self.epochs_spin, "epochs"), (self.steps_spin, "steps_per_epoch"),
                              (self.batch_spin, "batch_size"), (self.patch_spin, "patch_size"),
                              (self.seed_spin, "seed")):
                if isinstance(config.get(key), (int, float)):
                    spin.setValue(int(config[key]))
            if isinstance(config.get("learning_rate"), (int, float)):
                self.lr_spin.setValue(float(config["learning_rate"]))
            self._select(self.loss_combo, config.get("loss"))
            self._select(self.schedule_combo, config.get("lr_schedule"))
            self._select(self.noise_combo, config.get("noise_kind"))
            vr = config.get("variance_range")
            if isinstance(vr, (list, tuple)) and len(vr) == 2:
                self.var_low_spin.setValue(float(vr[0]))
                self.var_high_spin.setValue(float(vr[1]))
            if isinstance(config.get("val_fraction"), (int, float)):
                self.val_spin.setValue(float(config["val_fraction"]))
            if isinstance(config.get("central_fraction"), (int, float)):
                self.central_spin.setValue(int(round(100 * float(config["central_fraction"]))))
            if "all_axes" in config:
                self.all_axes_check.setChecked(bool(config["all_axes"]))
            if "noise_weighting" in config:
                self.weighting_check.setChecked(config["noise_weighting"] == "inverse_sigma")
            if "synthetic" in config:
                self.synthetic_check.setChecked(bool(config["synthetic"]) and self.synthetic_check.isEnabled())
            if isinstance(config.get("ema_momentum"), (int, float)):
                self.ema_check.setChecked(config["ema_momentum"] > 0)
            self._select(self.monitor_combo, config.get("monitor"))
            if "tensorboard" in config:
                self.tensorboard_check.setChecked(bool(config["tensorboard"]))
            norm = config.get("normalizer")
            if isinstance(norm, dict):
                self._select(self.norm_combo, norm.get("method"))
                for spin, key in ((self.norm_low_spin, "low"), (self.norm_high_spin, "high")):
                    if isinstance(norm.get(key), (int, float)):
                        spin.setValue(float(norm[key]))
            if isinstance(config.get("volume_index"), int):
                self.volume_index_spin.setValue(config["volume_index"])
            if "out" in config:
                self.out_edit.setText(str(config.get("out") or ""))
        finally:
            del blockers
        self._enable_data_editors()
        self._show_start_arch()
        self._update_sigma_label()

    @staticmethod
    def _select(combo: QComboBox, value) -> None:
        if value is None:
            return
        index = combo.findData(value)
        if index < 0:  # a value ml/ knows but the fallback list does not (yet)
            combo.addItem(str(value), value)
            index = combo.count() - 1
        combo.setCurrentIndex(index)

    def set_errors(self, errors: dict) -> None:
        """Mark each invalid field with its reason; reasons with no editor go to the bottom."""
        shown: dict[QLabel, list[str]] = {}
        for field, label in self.error_labels.items():
            shown.setdefault(label, [])
        other = []
        for field, reason in errors.items():
            label = self.error_labels.get(field)
            if label is None:
                other.append(f"{field.replace('_', ' ')}: {reason}")
            elif field in SHARED_ROW_NAMES:
                shown[label].append(f"{SHARED_ROW_NAMES[field]}: {reason}")
            else:
                shown[label].append(reason)
        for label, reasons in shown.items():
            label.setText("; ".join(dict.fromkeys(reasons)))
            label.setVisible(bool(reasons))
        for field, editor in self.editors.items():
            editor.setStyleSheet(INVALID_STYLE if field in errors else "")
            editor.setProperty("invalid", field in errors)
        self.other_errors.setText("\n".join(other))
        self.other_errors.setVisible(bool(other))

    def set_editable(self, editable: bool) -> None:
        """Lock the form while a run uses its settings."""
        for child in self.findChildren(QWidget):
            if isinstance(child, (QPushButton, QComboBox, QSpinBox, QDoubleSpinBox, QLineEdit,
                                  QRadioButton, QCheckBox, QListWidget)):
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

    def _on_arch_changed(self, _index: int) -> None:
        self.configChanged.emit()

    def _on_start_changed(self, _checked: bool) -> None:
        self._show_start_arch()
        self.configChanged.emit()

    def _show_start_arch(self) -> None:
        """Fine-tuning keeps the model's own network: show it (read-only); scratch restores the choice."""
        finetune = self.finetune_radio.isChecked() and bool(self.current_model_dir)
        self.arch_combo.setEnabled(not finetune)
        with QSignalBlocker(self.arch_combo):
            if finetune:
                if self._scratch_arch is None:
                    self._scratch_arch = self.arch_combo.currentData()
                self._select(self.arch_combo, model_architecture(self.current_model_dir))
            elif self._scratch_arch is not None:
                self._select(self.arch_combo, self._scratch_arch)
                self._scratch_arch = None

    def _on_synthetic_toggled(self, _synthetic: bool) -> None:
        self._enable_data_editors()
        self._on_value_changed()

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
