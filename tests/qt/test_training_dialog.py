"""The training dialog with real tiny training (no Keras mocks): progress, curves, cancel, validation,
"Use this model", settings, and that the GUI thread never imports TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import QThread
from PyQt6.QtWidgets import QLabel, QMessageBox, QPushButton

from tests.conftest import phantom, write_nifti
from tests.qt.conftest import wait_denoised_current

READY_MS = 120_000  # the worker imports TensorFlow the first time
RUN_MS = 180_000


@pytest.fixture
def volumes(tmp_path) -> Path:
    """A folder of three tiny clean volumes (split by volume: two train, one validation)."""
    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(3):
        write_nifti(folder / f"vol{i}.nii.gz", phantom((32, 32, 16), seed=i))
    return folder


@pytest.fixture
def make_dialog(qtbot, settings):
    from mri_denoise_gui.qt.training_dialog import TrainingDialog

    dialogs = []

    def make(ready=True, **kw):
        kw.setdefault("settings", settings)
        dialog = TrainingDialog(**kw)
        qtbot.addWidget(dialog)
        dialog.show()
        dialogs.append(dialog)
        if ready:
            qtbot.waitUntil(lambda: dialog.worker_ready, timeout=READY_MS)
        return dialog

    yield make
    for dialog in dialogs:
        assert dialog.cancel_and_wait(60_000), "the training worker did not stop"
        assert dialog.controller.thread is None or dialog.controller.thread.isFinished()


def configure_tiny(dialog, data: Path, out: Path, epochs=2, steps=3) -> None:
    """What a user would type: the tiny network, small patches, a few steps."""
    f = dialog.form
    f.add_paths([str(data)])
    f.arch_combo.setCurrentIndex(f.arch_combo.findData("tiny"))
    f.epochs_spin.setValue(epochs)
    f.steps_spin.setValue(steps)
    f.batch_spin.setValue(4)
    f.patch_spin.setValue(16)
    f.noise_combo.setCurrentIndex(f.noise_combo.findData("rician"))
    f.var_low_spin.setValue(0.0025)
    f.var_high_spin.setValue(0.0064)
    f.out_edit.setText(str(out))
    dialog.config["val_patches"] = 8  # not in the form; a dialog-owned config field like any other
    dialog.validate()


def button(dialog, name) -> QPushButton:
    b = dialog.findChild(QPushButton, name)
    assert b is not None, name
    return b


def no_partial_folders(parent: Path) -> bool:
    return not [p for p in parent.iterdir() if p.name.startswith(".")] if parent.exists() else True


TF_THREAD_PROBE = """
import os, sys, threading, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
first = {}

class Spy:  # records which thread imports TensorFlow / Keras first
    def find_spec(self, name, path=None, target=None):
        if name in ("tensorflow", "keras") and name not in first:
            first[name] = threading.current_thread() is threading.main_thread()
        return None

sys.meta_path.insert(0, Spy())
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QApplication
app = QApplication([])
from mri_denoise_gui.qt.training_dialog import TrainingDialog
assert not first, "importing the dialog imported TensorFlow"
dialog = TrainingDialog(settings=QSettings(sys.argv[1], QSettings.Format.IniFormat))
dialog.show()
t = time.time()
while not dialog.worker_ready and time.time() - t < 120:
    app.processEvents()
dialog.form.out_edit.setText(sys.argv[2])  # the GUI thread validates with the TF-free config
print(first, dialog.errors)
ok = dialog.worker_ready and first.get("tensorflow") is False and first.get("keras") is False
dialog.cancel_and_wait(30000)
sys.exit(0 if ok else 1)
"""


def test_tensorflow_is_imported_by_the_worker_thread_never_the_gui_thread(tmp_path):
    run = subprocess.run([sys.executable, "-c", TF_THREAD_PROBE, str(tmp_path / "s.ini"), str(tmp_path / "m")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]


def test_interface_and_tensorflow_only_in_the_worker(make_dialog):
    dialog = make_dialog()
    assert dialog.objectName() == "trainingDialog"
    assert not dialog.isModal()
    assert not dialog.is_training()
    assert isinstance(dialog.controller.thread, QThread)
    assert dialog.controller.thread is not QThread.currentThread()
    assert dialog.controller.worker.thread() is dialog.controller.thread


def test_invalid_config_shows_reasons_and_keeps_start_disabled(qtbot, make_dialog, tmp_path):
    dialog = make_dialog()
    start = button(dialog, "startTrainingButton")
    dialog.form.out_edit.setText("")
    assert {"data", "out"} <= set(dialog.errors)
    assert not start.isEnabled()
    data_error = dialog.findChild(QLabel, "error_data")
    out_error = dialog.findChild(QLabel, "error_out")
    assert data_error.isVisibleTo(dialog) and "NIfTI" in data_error.text()
    assert out_error.isVisibleTo(dialog) and out_error.text() == dialog.errors["out"]
    assert dialog.form.out_edit.property("invalid") is True

    # a patch size the tiny network cannot take: validate() says which multiple it needs
    dialog.form.arch_combo.setCurrentIndex(dialog.form.arch_combo.findData("tiny"))
    dialog.form.patch_spin.setValue(18)
    assert "multiple of 4" in dialog.errors["patch_size"]
    assert "multiple of 4" in dialog.findChild(QLabel, "error_batch_size").text()
    dialog.form.var_low_spin.setValue(0.02)
    dialog.form.var_high_spin.setValue(0.01)
    assert "variance_range" in dialog.errors
    assert dialog.start_training() is False
    start.click()
    assert not dialog.is_training()

    # never train into a folder of other files: it would be replaced
    other = tmp_path / "not_a_model"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    dialog.form.out_edit.setText(str(other))
    assert "not a model" in dialog.errors["out"]

    # fixing everything enables Start and clears the marks
    data = tmp_path / "one.nii.gz"
    write_nifti(data, phantom((32, 32, 40)))
    dialog.form.add_paths([str(data)])
    dialog.form.patch_spin.setValue(16)
    dialog.form.var_low_spin.setValue(0.001)
    dialog.form.out_edit.setText(str(tmp_path / "new_model"))
    assert dialog.errors == {}
    assert start.isEnabled()
    assert not dialog.findChild(QLabel, "error_data").isVisibleTo(dialog)
    assert dialog.form.out_edit.property("invalid") is False
    dialog.form.out_edit.setText("~/not-created-by-tests")  # ml resolves paths: "~" must be expanded here
    assert dialog.config["out"] == str(Path.home() / "not-created-by-tests")


def test_training_emits_progress_fills_curves_and_offers_the_model(qtbot, make_dialog, volumes, tmp_path):
    from mri_denoise_gui.ml.inference import Denoiser

    dialog = make_dialog(current_volume_path=volumes / "vol0.nii.gz")
    out = tmp_path / "models" / "trained"
    configure_tiny(dialog, volumes, out, epochs=2, steps=3)
    assert dialog.errors == {}

    with qtbot.waitSignal(dialog.planReady, timeout=RUN_MS) as plan:
        pass
    assert plan.args[0]["train"]["volumes"] == 2 and plan.args[0]["validation"]["volumes"] == 1
    assert plan.args[0]["slices"]["train"] > 0 and plan.args[0]["seconds_per_epoch"] > 0
    assert "per epoch" in dialog.plan_label.text() and "2 volumes" in dialog.plan_label.text()

    events = []
    dialog.controller.progress.connect(events.append)
    with qtbot.waitSignal(dialog.trainingFinished, timeout=RUN_MS) as finished:
        button(dialog, "startTrainingButton").click()
        assert dialog.is_training()
        assert not button(dialog, "startTrainingButton").isEnabled()
        assert button(dialog, "cancelTrainingButton").isEnabled()
        assert not dialog.form.out_edit.isEnabled()
    result = finished.args[0]

    kinds = [e["kind"] for e in events]
    assert kinds[0] == "train_begin" and kinds.count("epoch") == 2 and "batch" in kinds
    assert dialog.progress_events == len(events)
    assert dialog.curves.epochs == [1.0, 2.0]
    for key in ("loss", "val_loss", "val_ssim", "val_psnr"):
        assert np.isfinite(dialog.curves.series[key]).all(), key
    x, y = dialog.curves.val_ssim.getData()
    assert list(x) == [1.0, 2.0] and len(y) == 2
    assert dialog.curves.noisy_ssim_line.isVisible()
    assert 0 < dialog.curves.noisy_ssim_line.value() < 1
    assert dialog.epoch_bar.value() == dialog.epoch_bar.maximum() == 2
    assert "epoch 2/2" in dialog.log_view.toPlainText()

    assert not result["cancelled"] and result["epochs_run"] == 2
    # the best epoch comes with the progress events (no re-reading model.json): the log says it
    assert f"Epoch {result['best']['epoch']} is the best so far" in dialog.log_view.toPlainText()
    assert [e["best_epoch"] for e in events if e["kind"] == "epoch"][-1] == result["best"]["epoch"]
    assert Path(result["folder"]) == out.resolve()
    assert Denoiser.load(result["folder"]).info["architecture"] == "tiny"
    assert no_partial_folders(out.parent)
    assert "noisy input" in dialog.result_label.text()
    assert not dialog.is_training() and button(dialog, "startTrainingButton").isEnabled()

    use = button(dialog, "useModelButton")
    assert use.isEnabled()
    with qtbot.waitSignal(dialog.useModelRequested, timeout=1000) as used:
        use.click()
    assert used.args == [result["folder"]]


def test_cancel_stops_within_a_batch_and_leaves_a_loadable_model_or_nothing(qtbot, make_dialog, volumes,
                                                                            tmp_path):
    from mri_denoise_gui.ml.inference import Denoiser

    dialog = make_dialog()
    out = tmp_path / "models" / "cancelled"
    configure_tiny(dialog, volumes, out, epochs=200, steps=20)
    batches = []
    dialog.controller.progress.connect(lambda e: batches.append(e) if e["kind"] == "batch" else None)
    with qtbot.waitSignal(dialog.trainingFinished, timeout=RUN_MS) as finished:
        dialog.start_training()
        qtbot.waitUntil(lambda: len(dialog.curves.epochs) >= 1, timeout=RUN_MS)
        button(dialog, "cancelTrainingButton").click()
        epoch_at_cancel = batches[-1]["epoch"] if batches else 1
    result = finished.args[0]
    assert result["cancelled"]
    assert result["epochs_run"] <= epoch_at_cancel + 1  # stopped inside the running epoch, not at the end
    assert "Cancelled" in dialog.result_label.text()
    if result["folder"]:
        assert Denoiser.load(result["folder"]).info["architecture"] == "tiny"
        assert button(dialog, "useModelButton").isEnabled()
    else:
        assert not out.exists() or not any(out.iterdir())
    assert no_partial_folders(out.parent)
    assert not dialog.is_training()


def test_cancel_and_wait_stops_a_run_for_the_main_window(qtbot, make_dialog, volumes, tmp_path):
    dialog = make_dialog()
    out = tmp_path / "models" / "closing"
    configure_tiny(dialog, volumes, out, epochs=200, steps=20)
    assert dialog.start_training()
    assert dialog.is_training()
    assert dialog.cancel_and_wait(60_000)  # at once, as the main window does on close
    assert not dialog.is_training()
    assert dialog.controller.thread is None  # stopped: the dialog can be destroyed now
    assert no_partial_folders(out.parent)


def test_closing_while_training_asks_without_blocking(qtbot, make_dialog, volumes, tmp_path):
    dialog = make_dialog()
    configure_tiny(dialog, volumes, tmp_path / "models" / "asked", epochs=200, steps=20)
    assert dialog.start_training()
    dialog.close()  # returns at once: the question is a non-modal box
    assert dialog.isVisible() and dialog.is_training()
    box = dialog.findChild(QMessageBox, "stopTrainingBox")
    assert box is not None and box.isVisible()
    with qtbot.waitSignal(dialog.trainingFinished, timeout=RUN_MS):
        box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)


def test_worker_errors_come_back_as_a_message(qtbot, make_dialog, volumes, tmp_path):
    dialog = make_dialog()
    configure_tiny(dialog, volumes, tmp_path / "models" / "broken")
    bad = dict(dialog.config_for_training(), data=[str(tmp_path / "gone.nii.gz")])  # vanished after validation
    with qtbot.waitSignal(dialog.trainingFailed, timeout=RUN_MS) as failed:
        dialog.controller.start(bad)
        dialog._update_state()
    assert "gone.nii.gz" in failed.args[0]
    assert dialog.findChild(QMessageBox, "trainingErrorBox") is not None
    assert "ERROR" in dialog.log_view.toPlainText()
    assert not dialog.is_training()


def test_settings_persist_between_dialogs(qtbot, make_dialog, settings, volumes, tmp_path):
    first = make_dialog()
    configure_tiny(first, volumes, tmp_path / "models" / "kept", epochs=7, steps=9)
    first.form.lr_spin.setValue(0.0042)
    assert first.form.values()["noise_weighting"] == "none"
    first.form.weighting_check.setChecked(True)
    assert first.config["noise_weighting"] == "inverse_sigma"  # the dialog's config follows the form
    assert first.config["ema_momentum"] == 0.0
    first.form.ema_check.setChecked(True)
    assert first.config["ema_momentum"] == 0.999
    first.form.monitor_combo.setCurrentIndex(first.form.monitor_combo.findData("val_psnr_metric"))
    first.form.tensorboard_check.setChecked(True)
    assert first.config["monitor"] == "val_psnr_metric" and first.config["tensorboard"] is True
    first.close()
    second = make_dialog(ready=False, settings=settings)
    values = second.form.values()
    assert values["noise_weighting"] == "inverse_sigma" and values["ema_momentum"] == 0.999
    assert values["monitor"] == "val_psnr_metric" and values["tensorboard"] is True
    assert values["epochs"] == 7 and values["steps_per_epoch"] == 9 and values["arch"] == "tiny"
    assert values["learning_rate"] == pytest.approx(0.0042)
    assert values["data"] == [str(volumes)] and values["out"] == str(tmp_path / "models" / "kept")


def test_fine_tune_starts_from_the_current_model(make_dialog, tiny_model_dir, tmp_path):
    dialog = make_dialog(current_model_dir=tiny_model_dir)
    assert dialog.form.finetune_radio.isEnabled()
    dialog.form.arch_combo.setCurrentIndex(dialog.form.arch_combo.findData("seed-autoencoder"))
    dialog.form.finetune_radio.setChecked(True)
    assert dialog.config["init_from"] == str(tiny_model_dir)
    assert not dialog.form.arch_combo.isEnabled()
    assert dialog.form.arch_combo.currentData() == "tiny"  # the model's own network is what trains
    dialog.form.out_edit.setText(str(tiny_model_dir))
    assert "fine-tuned" in dialog.errors["out"]
    dialog.form.scratch_radio.setChecked(True)
    assert dialog.config["init_from"] is None
    assert dialog.form.arch_combo.isEnabled() and dialog.config["arch"] == "seed-autoencoder"


def test_use_this_model_switches_the_main_windows_model(qtbot, make_window, settings, volumes, tmp_path,
                                                        tiny_model_dir):
    from mri_denoise_gui.qt.training_dialog import TrainingDialog, open_training_dialog

    window = make_window()
    with qtbot.waitSignal(window.modelReady, timeout=READY_MS):
        window.load_model(tiny_model_dir)
    assert window.open_file(volumes / "vol0.nii.gz")
    dialog = open_training_dialog(window)
    assert isinstance(dialog, TrainingDialog) and open_training_dialog(window) is dialog  # one per window
    assert dialog.form.current_model_dir == str(tiny_model_dir)
    assert dialog.form.current_volume_path == str(volumes / "vol0.nii.gz")
    qtbot.waitUntil(lambda: dialog.worker_ready, timeout=READY_MS)
    dialog.form.add_current_volume()
    assert dialog.form.data_paths() == [str(volumes / "vol0.nii.gz")]
    configure_tiny(dialog, volumes, tmp_path / "models" / "for_window", epochs=2, steps=3)
    with qtbot.waitSignal(dialog.trainingFinished, timeout=RUN_MS) as finished:
        assert dialog.start_training()
        # the window's own inference worker keeps serving slices while the dialog trains
        window.set_slice(window.index + 1)
        wait_denoised_current(qtbot, window, timeout=RUN_MS)
        scrubbed_while_training = dialog.is_training()
    assert scrubbed_while_training
    folder = finished.args[0]["folder"]
    assert folder
    with qtbot.waitSignal(window.modelReady, timeout=READY_MS) as ready:
        button(dialog, "useModelButton").click()
    assert Path(ready.args[0]["folder"]) == Path(folder)
    assert Path(window.model["folder"]) == Path(folder)
    assert dialog.form.current_model_dir == folder
    assert dialog.cancel_and_wait(60_000)  # as the main window does on close


def test_reopening_after_close_restarts_the_worker(qtbot, make_dialog, volumes, tmp_path):
    dialog = make_dialog()
    configure_tiny(dialog, volumes, tmp_path / "models" / "again")
    dialog.close()
    assert dialog.controller.thread is None  # closed: no idle thread left behind
    qtbot.wait(800)  # a late plan timer must not start it again
    assert dialog.controller.thread is None
    with qtbot.waitSignal(dialog.controller.ready, timeout=RUN_MS):  # a fresh worker, ml/ already imported
        dialog.show()
    assert dialog.controller.thread is not None and dialog.controller.thread.isRunning()
    assert button(dialog, "startTrainingButton").isEnabled()


def test_progress_is_throttled_but_every_epoch_gets_through():
    from mri_denoise_gui.qt.training_worker import ProgressThrottle

    now = [0.0]
    sent = []
    throttle = ProgressThrottle(sent.append, interval=0.1, clock=lambda: now[0])
    throttle({"kind": "train_begin", "epoch": 0, "batch": 0, "steps": 100})
    for epoch in (1, 2):
        for batch in range(1, 101):
            now[0] += 0.001  # a fast network: 1000 batches a second
            throttle({"kind": "batch", "epoch": epoch, "batch": batch, "steps": 100})
        throttle({"kind": "epoch", "epoch": epoch, "batch": 100, "steps": 100})
    kinds = [e["kind"] for e in sent]
    assert kinds.count("epoch") == 2 and kinds[0] == "train_begin"
    assert kinds.count("batch") <= 6  # ~0.2 s of batches at 10 per second, plus each epoch's last
    assert [e["batch"] for e in sent if e["kind"] == "batch"][-1] == 100
    assert throttle.dropped == 200 - kinds.count("batch")


def test_plan_summary_and_durations_read_well(tmp_path):
    from mri_denoise_gui.qt.training_dialog import describe_plan, format_duration

    assert format_duration(4.26) == "4.3 s" and format_duration(42) == "42 s"
    assert format_duration(247) == "4:07" and format_duration(3 * 3600 + 5) == "3:00:05"
    assert format_duration(None) == "—"
    plan = {"train": {"volumes": 4}, "validation": {"volumes": 1}, "split": "volume", "device": "CPU",
            "patches": 64000, "slices": {"train": 400, "validation": 100}, "seconds_per_epoch": 75.0}
    config = {"epochs": 20, "steps_per_epoch": 200, "batch_size": 16, "patch_size": 64, "arch": "resunet",
              "out": str(tmp_path / "m"), "monitor": "val_loss"}
    text = describe_plan(plan, config)
    for part in ("4 volumes, 400 slices", "1 volume, 100 slices", "split by volume", "CPU", "1:15",
                 "25:00", "64,000", "validation loss", "from scratch"):
        assert part in text, part


def test_synthetic_data_replaces_the_file_list(qtbot, make_dialog, tmp_path):
    dialog = make_dialog()
    form = dialog.form
    form.out_edit.setText(str(tmp_path / "synthetic_model"))
    assert "data" in dialog.errors and form.data_list.isEnabled()
    if not form.synthetic_check.isEnabled():
        pytest.skip("nilearn (the MNI152 template) is not installed")
    form.synthetic_check.setChecked(True)
    assert dialog.config["synthetic"] is True and "data" not in dialog.errors
    assert not form.data_list.isEnabled() and not form.add_files_button.isEnabled()
    qtbot.waitUntil(lambda: "MNI152" in dialog.plan_label.text(), timeout=READY_MS)
    assert "125 MNI152 slices" in dialog.plan_label.text()
    form.synthetic_check.setChecked(False)
    assert "data" in dialog.errors and form.data_list.isEnabled()


def test_normalisation_and_4d_volume_rows_feed_the_config(qtbot, make_dialog, volumes, tmp_path):
    dialog = make_dialog()
    form = dialog.form
    configure_tiny(dialog, volumes, tmp_path / "models" / "norm")
    assert dialog.config["normalizer"] == {"method": "percentile", "low": 0.5, "high": 99.5}
    assert dialog.config["volume_index"] == 0 and dialog.errors == {}
    form.norm_low_spin.setValue(99.8)  # above the high percentile: validate() says why, Start stays off
    assert "percentiles" in dialog.errors["normalizer"]
    assert "percentiles" in dialog.findChild(QLabel, "error_normalizer").text()
    assert not button(dialog, "startTrainingButton").isEnabled()
    form.norm_combo.setCurrentIndex(form.norm_combo.findData("minmax"))
    assert not form.norm_low_spin.isEnabled() and not form.norm_high_spin.isEnabled()
    form.norm_combo.setCurrentIndex(form.norm_combo.findData("percentile"))
    assert form.norm_low_spin.isEnabled()
    form.norm_low_spin.setValue(1.0)
    form.volume_index_spin.setValue(3)
    assert dialog.config["normalizer"] == {"method": "percentile", "low": 1.0, "high": 99.5}
    assert dialog.config["volume_index"] == 3 and dialog.errors == {}
    if form.synthetic_check.isEnabled():  # synthetic slices have no 4D choice, but keep the normalisation
        form.synthetic_check.setChecked(True)
        assert not form.volume_index_spin.isEnabled() and form.norm_combo.isEnabled()
        form.synthetic_check.setChecked(False)
    form.set_values({"normalizer": {"method": "minmax", "low": 2.0, "high": 98.0}, "volume_index": 1})
    assert form.values()["normalizer"] == {"method": "minmax", "low": 2.0, "high": 98.0}
    assert form.values()["volume_index"] == 1 and not form.norm_high_spin.isEnabled()
    # "Open volume" on a 4D file the window shows at volume 2 trains on that volume
    series = write_nifti(tmp_path / "series.nii.gz", np.stack([phantom((24, 24, 16), seed=i) for i in range(3)], -1))
    dialog.set_current_volume(series, 2)
    form.add_current_volume()
    assert str(series) in dialog.config["data"] and dialog.config["volume_index"] == 2


def test_enter_in_a_field_does_not_start_training(qtbot, make_dialog, volumes, tmp_path):
    from PyQt6.QtCore import Qt

    dialog = make_dialog()
    configure_tiny(dialog, volumes, tmp_path / "models" / "enter")
    assert button(dialog, "startTrainingButton").isEnabled()
    dialog.form.out_edit.setFocus()
    qtbot.keyClick(dialog.form.out_edit, Qt.Key.Key_Return)
    qtbot.keyClick(dialog.form.epochs_spin, Qt.Key.Key_Enter)
    assert not dialog.is_training()
    assert dialog.isVisible()


def test_closing_the_window_while_training_asks_then_cancels_cleanly(qtbot, make_window, volumes, tmp_path):
    from mri_denoise_gui.qt.training_dialog import open_training_dialog

    window = make_window()
    dialog = open_training_dialog(window)
    qtbot.waitUntil(lambda: dialog.worker_ready, timeout=READY_MS)
    out = tmp_path / "models" / "window_close"
    configure_tiny(dialog, volumes, out, epochs=200, steps=20)
    assert dialog.start_training()
    window.close()  # returns at once with a question; nothing is stopped yet
    assert window.isVisible() and dialog.is_training()
    box = window.findChild(QMessageBox, "stopTrainingOnCloseBox")
    assert box is not None and box.isVisible()
    box.button(QMessageBox.StandardButton.No).click()
    assert window.isVisible() and dialog.is_training()
    window.close()
    box = window.findChild(QMessageBox, "stopTrainingOnCloseBox")
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=RUN_MS)
    assert not dialog.is_training()
    assert no_partial_folders(out.parent)


def test_every_labelled_setting_is_in_the_form_and_unplaced_ones_are_generated(make_dialog):
    """A labelled field of ml/training_config.py is in the form with no form code: `distribution`
    has no hand-made editor, so its row comes from the field table under "More settings"."""
    from PyQt6.QtWidgets import QComboBox, QGroupBox

    from mri_denoise_gui.ml.training_config import FIELD_NAMES, field_info

    form = make_dialog().form
    assert {n for n in FIELD_NAMES if field_info(n)["label"]} <= set(form.FIELDS)
    combo = form.findChild(QComboBox, "distributionCombo")
    assert form.findChild(QGroupBox, "generatedSettingsGroup").isAncestorOf(combo)
    assert [combo.itemData(i) for i in range(combo.count())] == list(field_info("distribution")["choices"])
    combo.setCurrentIndex(combo.findData("mirrored"))
    assert form.values()["distribution"] == "mirrored"
    form.set_values({"distribution": "none"})
    assert combo.currentData() == "none" and form.values()["distribution"] == "none"
