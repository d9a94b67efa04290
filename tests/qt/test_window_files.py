"""Window file actions: export (header, names, never the input), real noisy scans, 4D, drops, background loads."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QMessageBox

from tests.conftest import phantom, write_nifti


def test_export_round_trips_the_header(qtbot, model_window, tmp_path):
    src = write_nifti(tmp_path / "scan.nii.gz", phantom((32, 40, 24)) + 50, affine=np.array(
        [[0.9, 0, 0, -10], [0, 1.1, 0, 20], [0, 0, 2.0, -30], [0, 0, 0, 1]]), dtype=np.int16,
        sform_code=4, qform_code=1, descrip=b"phantom scan")
    w = model_window
    w.open_file(src)
    out = tmp_path / "out" / "scan_denoised.nii.gz"
    out.parent.mkdir()
    with qtbot.waitSignal(w.exportFinished, timeout=120_000) as blocker:
        assert w.export_volume("denoised", out)
    assert blocker.args == [str(out)]
    a, b = nib.load(str(src)), nib.load(str(out))
    np.testing.assert_allclose(b.affine, a.affine)
    assert int(b.header["sform_code"]) == 4 and int(b.header["qform_code"]) == 1
    assert b.header.get_zooms() == a.header.get_zooms()
    assert b.get_data_dtype() == np.float32
    assert b.header["descrip"] == a.header["descrip"]
    data = b.get_fdata()
    assert data.shape == a.shape
    source = a.get_fdata()
    assert data.min() >= source.min() - 1e-3 and data.max() <= source.max() + 1e-3  # original units, not [0, 1]
    assert data.max() > 2  # not [0, 1]
    side = json.loads(out.with_name("scan_denoised.json").read_text())
    assert side["content"] == "denoised"
    assert side["noise"] == w.session.noise.to_dict()
    assert side["model"]["name"]
    assert side["source"]["path"] == str(src.resolve())

    with qtbot.waitSignal(w.exportFinished, timeout=30_000):
        w.export_volume("noisy", tmp_path / "out" / "scan_noisy.nii.gz")
    noisy = nib.load(str(tmp_path / "out" / "scan_noisy.nii.gz")).get_fdata(dtype=np.float32)
    np.testing.assert_allclose(noisy, w.data.normalizer.inverse(w.data.noisy01), rtol=1e-5, atol=1e-3)


def test_export_menu_suggests_a_name_beside_the_input_and_writes_there(qtbot, model_window, small_file,
                                                                       monkeypatch, tmp_path):
    w = model_window
    w.open_file(small_file)
    asked = []
    target = tmp_path / "chosen_noisy.nii.gz"

    def ask(title, suggested):
        asked.append((title, suggested))
        return str(target)

    monkeypatch.setattr(w, "_ask_save_path", ask)
    with qtbot.waitSignal(w.exportFinished, timeout=30_000) as blocker:
        w.export_noisy_action.trigger()
    stem = small_file.name.removesuffix(".nii.gz").removesuffix(".nii")
    assert asked == [("Export noisy volume", small_file.parent / f"{stem}_noisy.nii.gz")]
    assert blocker.args == [str(target)] and target.is_file()
    monkeypatch.setattr(w, "_ask_save_path", lambda title, suggested: asked.append((title, suggested)))
    w.export_action.trigger()  # the dialog cancelled (None): asked with its own name, nothing written
    assert asked[-1] == ("Export denoised volume", small_file.parent / f"{stem}_denoised.nii.gz")


def test_export_never_overwrites_the_input(model_window, small_file):
    w = model_window
    w.open_file(small_file)
    before = small_file.read_bytes()
    assert not w.export_volume("noisy", small_file)
    assert "opened file" in w.last_error[1]
    assert small_file.read_bytes() == before


def test_real_noisy_scan_has_no_ground_truth_until_a_reference_is_attached(window, small_file, tmp_path):
    ref = write_nifti(tmp_path / "ref.nii.gz", phantom((32, 40, 24), seed=5), affine=np.diag([1.0, 1.2, 2.0, 1.0]))
    window.open_file(small_file, as_noisy=True)
    assert window.current["truth"] is None
    assert "No ground truth" in window.panes["truth"].message_text
    assert not window.metrics_panel._table.isVisibleTo(window)
    assert not window.noise_controls.isEnabled()
    raw01 = window.data.normalizer.forward(nib.load(str(small_file)).get_fdata(dtype=np.float32))
    np.testing.assert_allclose(window.data.noisy01, raw01)  # the file itself, no simulated noise

    assert window.attach_reference(ref)
    assert window.current["truth"] is not None
    assert window.metrics_panel._table.isVisibleTo(window)


def test_4d_file_asks_which_volume(window, tmp_path, monkeypatch):
    data = np.stack([phantom((16, 18, 12), seed=s) * (s + 1) for s in range(3)], axis=-1)
    path = write_nifti(tmp_path / "four.nii.gz", data)
    asked = []
    monkeypatch.setattr(window, "ask_volume_index", lambda p, n: asked.append(n) or 2)
    assert window.open_file(path)
    assert asked == [3]
    assert window.data.volume.volume_index == 2


def test_drag_and_drop_opens_nifti_files_only(qtbot, window, small_file, tmp_path):
    from PyQt6.QtCore import QMimeData, QPoint, QPointF, QUrl
    from PyQt6.QtGui import QDragEnterEvent, QDropEvent

    def mime_for(path):
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        return mime

    text = tmp_path / "notes.txt"
    text.write_text("not a volume")
    text_mime = mime_for(text)  # the events do not own their mime data: keep it alive
    refused = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, text_mime, Qt.MouseButton.LeftButton,
                              Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(refused)
    assert not refused.isAccepted()

    mime = mime_for(small_file)
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    window.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier))
    qtbot.waitUntil(lambda: window.data is not None, timeout=5000)
    assert window.data.volume.path == small_file.resolve()
    assert window.data.mode == "clean"


def test_large_file_loads_in_the_background_with_progress_and_can_be_cancelled(qtbot, window, small_file,
                                                                               tmp_path, monkeypatch):
    import threading

    from mri_denoise_gui.core import volume as core_volume
    from mri_denoise_gui.qt import file_actions

    monkeypatch.setattr(file_actions, "SYNC_LOAD_VOXELS", 0)  # every file counts as large
    monkeypatch.setattr(core_volume, "READ_CHUNK", 2048)
    reading, release = threading.Event(), threading.Event()
    real_load = file_actions.load_volume

    def held_load(path, index, progress=None, cancel=None):
        def hold_a_third_in(done, total):  # the real load, paused in the reading thread
            progress(done, total)
            if done >= total // 3 and not reading.is_set():
                reading.set()
                release.wait(10)
        return real_load(path, index, progress=hold_a_third_in, cancel=cancel)

    monkeypatch.setattr(file_actions, "load_volume", held_load)
    assert window.open_file(small_file)
    qtbot.waitUntil(reading.is_set, timeout=5000)
    cancel_button = window.job_panel.cancel
    assert cancel_button.isEnabled() and "Loading small.nii.gz" in window.job_panel.progress.format()
    qtbot.waitUntil(lambda: window.job_panel.progress.value() > 0, timeout=2000)  # polled from the thread
    cancel_button.click()
    release.set()
    qtbot.waitUntil(lambda: "cancelled" in window.statusBar().currentMessage(), timeout=5000)
    assert window.data is None and not cancel_button.isEnabled()
    assert window.findChild(QMessageBox) is None  # a cancel is not an error

    reading.clear()
    monkeypatch.setattr(file_actions, "load_volume", real_load)
    assert window.open_file(small_file)
    qtbot.waitUntil(lambda: window.data is not None, timeout=5000)
    assert window.data.volume.path == small_file.resolve() and not cancel_button.isEnabled()
