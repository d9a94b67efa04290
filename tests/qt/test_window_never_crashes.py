"""Issue 12 in the window: hostile files, a corrupt model and bugs give one line and lose nothing.

Every hostile input is made here with nibabel or raw bytes. Each test drives the real offscreen
window and checks: a one-line message (status bar and message box), nothing on stderr, the
input unchanged byte for byte, and the window still able to open a good volume afterwards.
"""

from __future__ import annotations

import gzip
import shutil
import sys
import threading

import nibabel as nib
import numpy as np
import pytest
from PyQt6.QtWidgets import QMessageBox

from tests.conftest import phantom, write_nifti
from tests.qt.conftest import MODEL_TIMEOUT_MS, open_and_wait


# -- hostile files ------------------------------------------------------------------------
def zero_length_dim(tmp_path):
    return write_nifti(tmp_path / "empty_dim.nii.gz", np.zeros((0, 10, 10), np.float32))


def size_bomb(tmp_path):
    """A gzipped header alone (tens of bytes) that promises 1024 x 1024 x 512 voxels.

    uint8, so that a core which still allocates what the header promises costs 512 MB, not 2 GB.
    """
    header = nib.Nifti1Header()
    header.set_data_shape((1024, 1024, 512))
    header.set_data_dtype(np.uint8)
    path = tmp_path / "bomb.nii.gz"
    path.write_bytes(gzip.compress(header.binaryblock + b"\0\0\0\0", mtime=0))
    assert path.stat().st_size < 100
    return path


def truncated_gz(tmp_path):
    good = write_nifti(tmp_path / "whole.nii.gz", phantom((32, 40, 24), seed=3))
    path = tmp_path / "truncated.nii.gz"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    good.unlink()
    return path


def rgb24(tmp_path):
    rgb = np.zeros((10, 12, 8), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    path = tmp_path / "rgb.nii.gz"
    nib.save(nib.Nifti1Image(rgb, np.eye(4)), str(path))
    return path


def zero_affine(tmp_path):
    header = nib.Nifti1Header()
    header.set_data_shape((20, 22, 18))
    header.set_data_dtype(np.float32)
    header.set_sform(np.zeros((4, 4)), code=1)
    header["qform_code"] = 0
    path = tmp_path / "zero_affine.nii.gz"
    nib.save(nib.Nifti1Image(phantom((20, 22, 18)), None, header=header), str(path))
    assert not np.any(nib.load(str(path)).affine[:3, :3])
    return path


def folder_bytes(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_one_line_message(window):
    title, reason, _details = window.last_error
    assert reason.strip() and "\n" not in reason and len(reason) < 500, reason
    assert reason in window.statusBar().currentMessage()
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and boxes[-1].text() == reason
    for box in boxes:
        box.close()
    return reason


@pytest.mark.parametrize("make", [zero_length_dim, size_bomb, truncated_gz, rgb24])
def test_hostile_file_gives_one_line_and_the_window_stays_usable(qtbot, window, tmp_path, small_file, make,
                                                                  capfd, monkeypatch):
    monkeypatch.setenv("MRI_DENOISE_LOG_DIR", str(tmp_path / "logs"))
    bad = make(tmp_path)
    before = bad.read_bytes()
    with qtbot.waitSignal(window.errorShown, timeout=60_000):
        window.open_file(bad)
    window.tasks.join(30)
    assert_one_line_message(window)
    assert window.data is None and bad.read_bytes() == before
    open_and_wait(qtbot, window, small_file)  # still usable
    assert window.panes["truth"].image is not None and window.data.volume.path == small_file.resolve()
    assert "Traceback" not in capfd.readouterr().err


def test_a_size_bomb_header_is_never_read_on_the_gui_thread(qtbot, window, tmp_path, monkeypatch):
    """81 bytes on disk used to mean "small: load now" and froze the window for seconds."""
    from mri_denoise_gui.qt import file_actions

    real_load, threads = file_actions.load_volume, []

    def recording_load(*args, **kwargs):  # the real load; only notes which thread ran it
        threads.append(threading.current_thread())
        return real_load(*args, **kwargs)

    monkeypatch.setattr(file_actions, "load_volume", recording_load)
    with qtbot.waitSignal(window.errorShown, timeout=60_000):
        window.open_file(size_bomb(tmp_path))
    assert threading.main_thread() not in threads
    assert_one_line_message(window)


def test_zero_affine_opens_with_a_warning(qtbot, window, tmp_path):
    """core.load_volume repairs an unusable affine (voxel sizes on a diagonal) and says so."""
    path = zero_affine(tmp_path)
    open_and_wait(qtbot, window, path)
    assert window.last_error is None
    warnings = window.data.volume.warnings
    assert any("affine is unusable" in w for w in warnings), warnings
    assert "affine is unusable" in window.statusBar().currentMessage()
    assert np.isfinite(window.data.volume.affine).all()
    for axis in ("axial", "coronal", "sagittal"):
        window.set_axis(axis)
        geom = window.data.geometry(axis)
        assert np.isfinite(geom.pixel_size).all() and min(geom.pixel_size) > 0
        np.testing.assert_array_equal(window.panes["truth"].image, geom.extract(window.data.truth01, window.index))
    window._on_cursor_moved(2, 3)
    assert "voxel (" in window.cursor_label.text()


def test_a_bug_gives_one_line_naming_a_log_with_the_traceback(qtbot, window, small_file, tmp_path, monkeypatch,
                                                              capfd):
    from mri_denoise_gui.qt import file_actions

    logs = tmp_path / "logs"
    monkeypatch.setenv("MRI_DENOISE_LOG_DIR", str(logs))
    real = file_actions.prepare_viewer_data

    def buggy(volume, as_noisy):  # a fault injected where a real bug would be
        raise ZeroDivisionError("injected bug")

    monkeypatch.setattr(file_actions, "prepare_viewer_data", buggy)
    before = small_file.read_bytes()
    assert not window.open_file(small_file)
    reason = assert_one_line_message(window)
    log = logs / "errors.log"
    assert "ZeroDivisionError: injected bug" in reason and str(log) in reason
    text = log.read_text()
    assert "Traceback" in text and "buggy" in text and "injected bug" in text
    assert "Traceback" not in capfd.readouterr().err
    assert small_file.read_bytes() == before

    monkeypatch.setattr(file_actions, "prepare_viewer_data", real)
    assert window.open_file(small_file)


def test_an_exception_escaping_a_slot_is_shown_not_fatal(window, tmp_path, monkeypatch):
    from mri_denoise_gui.qt.messages import error_hook

    monkeypatch.setenv("MRI_DENOISE_LOG_DIR", str(tmp_path))
    hook = error_hook(window)
    try:
        {}["missing"]
    except KeyError:
        hook(*sys.exc_info())
    title, reason, details = window.last_error
    assert title == "Unexpected error" and "KeyError" in reason and str(tmp_path / "errors.log") in reason
    assert "Traceback" in details and "missing" in (tmp_path / "errors.log").read_text()


def test_a_corrupt_model_keras_is_one_line_and_leaves_the_folder_alone(qtbot, window, tiny_model_dir, tmp_path,
                                                                       small_file, capfd):
    folder = tmp_path / "corrupt-model"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.keras").write_bytes(b"PK\x03\x04 this is not a keras archive")
    before = folder_bytes(folder)
    with qtbot.waitSignal(window.errorShown, timeout=MODEL_TIMEOUT_MS):
        window.load_model(folder)
    assert "model" in window.last_error[0].lower()
    assert_one_line_message(window)
    assert window.model is None and folder_bytes(folder) == before
    open_and_wait(qtbot, window, small_file)
    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS):
        window.load_model(tiny_model_dir)  # the good model still loads
    assert "Traceback" not in capfd.readouterr().err


def test_a_hostile_reference_is_one_line_and_a_good_one_still_attaches(qtbot, window, small_file, tmp_path):
    window.open_file(small_file, as_noisy=True)
    bad = truncated_gz(tmp_path)
    before = bad.read_bytes()
    with qtbot.waitSignal(window.errorShown, timeout=10_000):
        assert not window.attach_reference(bad)
    assert_one_line_message(window)
    assert window.data.truth01 is None and bad.read_bytes() == before
    good = write_nifti(tmp_path / "ref.nii.gz", phantom((32, 40, 24), seed=5), affine=np.diag([1.0, 1.2, 2.0, 1.0]))
    assert window.attach_reference(good) and window.current["truth"] is not None


def test_an_export_that_cannot_be_written_is_one_line_and_leaves_nothing(qtbot, window, small_file, tmp_path):
    window.open_file(small_file)
    with qtbot.waitSignal(window.errorShown, timeout=30_000):
        window.export_volume("noisy", tmp_path / "no-such-folder" / "out.nii.gz")
    assert "Could not export" in window.last_error[0]
    assert_one_line_message(window)
    assert not (tmp_path / "no-such-folder").exists() and not list(tmp_path.rglob("*.part*"))
    with qtbot.waitSignal(window.exportFinished, timeout=30_000):  # and the next export works
        window.export_volume("noisy", tmp_path / "out.nii.gz")


def test_a_volume_that_fails_to_show_leaves_an_empty_usable_window(qtbot, window, small_file, tall_file,
                                                                   monkeypatch, tmp_path):
    monkeypatch.setenv("MRI_DENOISE_LOG_DIR", str(tmp_path / "logs"))
    open_and_wait(qtbot, window, small_file)
    monkeypatch.setattr(window, "refresh", lambda: 1 / 0)  # a bug while the new volume goes on screen
    assert not window.open_file(tall_file)
    assert "ZeroDivisionError" in assert_one_line_message(window)
    assert window.data is None and window.panes["truth"].image is None  # not half of the new volume
    monkeypatch.undo()
    open_and_wait(qtbot, window, tall_file)
    assert window.data.volume.path == tall_file.resolve()


def test_train_and_noise_actions_that_fail_are_one_line(qtbot, window, small_file, monkeypatch):
    from mri_denoise_gui.qt import noise_metrics, training_dialog

    def broken(*args, **kwargs):  # faults injected where a real bug or a full memory would be
        raise MemoryError("cannot allocate")

    monkeypatch.setattr(training_dialog, "open_training_dialog", broken)
    window.open_training_dialog()
    assert window.last_error[0] == "Could not open the training dialog"
    assert "MemoryError: cannot allocate" in assert_one_line_message(window)

    open_and_wait(qtbot, window, small_file)
    monkeypatch.setattr(noise_metrics, "make_noisy_volume", broken)
    window.set_noise(seed=window.session.noise.seed + 1)
    assert window.last_error[0] == "Could not add noise"
    assert_one_line_message(window)
    monkeypatch.undo()
    with qtbot.waitSignal(window.noiseApplied, timeout=10_000):
        window.set_noise(seed=window.session.noise.seed + 2)  # still works
