"""Orthogonal views through the real window: planes through one voxel, clicks move the others."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtTest import QTest
from PyQt6.QtWidgets import QWidget

from mri_denoise_gui.core import baselines
from tests.qt.conftest import wait_denoised_current

AXES = ("axial", "coronal", "sagittal")


def _planes_through(w, volume, voxel):
    out = {}
    for axis in AXES:
        geom = w.data.geometry(axis)
        out[axis] = np.asarray(geom.extract(volume, geom.position(voxel)[0]))
    return out


def test_planes_pass_through_the_clicked_voxel(qtbot, window, small_file):
    w = window
    assert w.open_file(small_file)
    w.set_ortho_method("truth")
    w.ortho_action.setChecked(True)
    assert w.findChild(QWidget, "orthoView").isVisible() and not w.panes["noisy"].isVisible()
    assert w.compare.histogram_view.isVisible()  # window / level stays at hand
    w.compare.set_levels(0.2, 0.5)
    assert tuple(w.ortho.panes["coronal"].image_item.levels) == (0.2, 0.5)
    voxel = w.ortho_voxel
    for axis, plane in _planes_through(w, w.data.truth01, voxel).items():
        np.testing.assert_array_equal(w.ortho.panes[axis].image, plane)

    w.click_ortho("axial", 5, 7)
    geom = w.data.geometry("axial")
    moved = geom.voxel(geom.position(voxel)[0], 5, 7)
    assert w.ortho_voxel == moved and moved != voxel
    for axis, plane in _planes_through(w, w.data.truth01, moved).items():
        np.testing.assert_array_equal(w.ortho.panes[axis].image, plane)

    # a real mouse click on the sagittal plane, pixel (row 3, col 9)
    pane = w.ortho.panes["sagittal"]
    qtbot.waitUntil(lambda: pane.graphics.width() > 50)
    sag = w.data.geometry("sagittal")
    px = sag.pixel_size
    scene = pane.view_box.mapViewToScene(QPointF((9 + 0.5) * px[1], (3 + 0.5) * px[0]))
    QTest.mouseClick(pane.graphics.viewport(), Qt.MouseButton.LeftButton, pos=pane.graphics.mapFromScene(scene))
    qtbot.waitUntil(lambda: w.ortho_voxel == sag.voxel(sag.position(moved)[0], 3, 9), timeout=5000)

    w.ortho_action.setChecked(False)
    assert w.panes["noisy"].isVisible() and not w.ortho.isVisible()


def test_ortho_classical_method_and_axis_switch_keeps_the_voxel(qtbot, window, small_file):
    w = window
    assert w.open_file(small_file)
    w.set_ortho_method("tv")
    w.show_ortho(True)
    qtbot.waitUntil(lambda: all(p.image is not None for p in w.ortho.panes.values()), timeout=30_000)
    for axis, plane in _planes_through(w, w.data.noisy01, w.ortho_voxel).items():
        np.testing.assert_allclose(w.ortho.panes[axis].image, baselines.tv_denoise(np.ascontiguousarray(plane)),
                                   atol=1e-6)
    w.show_ortho(False)

    w.panes["noisy"].cursorMoved.emit(4, 6)  # the pointer over voxel (row 4, col 6) of this slice
    ijk = w.data.geometry(w.session.axis).voxel(w.index, 4, 6)
    assert w.crosshair_voxel == ijk
    for axis in ("coronal", "sagittal", "axial"):
        w.set_axis(axis)
        geom = w.data.geometry(axis)
        assert w.index == geom.position(ijk)[0]
        row, col = geom.position(ijk)[1:]
        assert w.current["noisy"][row, col] == w.data.noisy01[ijk]


def test_ortho_network_planes_come_from_the_inference_thread(qtbot, model_window, small_file, tiny_model_dir):
    from mri_denoise_gui.ml.inference import Denoiser
    from mri_denoise_gui.viewer.state import display_from_file_slice, file_order_slice

    w = model_window
    assert w.open_file(small_file)
    wait_denoised_current(qtbot, w)
    w.show_ortho(True)
    qtbot.waitUntil(lambda: all(p.image is not None for p in w.ortho.panes.values()), timeout=60_000)
    denoiser = Denoiser.load(tiny_model_dir)
    for axis in AXES:
        geom = w.data.geometry(axis)
        index = geom.position(w.ortho_voxel)[0]
        expected = display_from_file_slice(
            denoiser.denoise_slice01(file_order_slice(w.data.noisy01, geom, index)), geom, index)
        np.testing.assert_allclose(w.ortho.panes[axis].image, expected, atol=1e-5)


def test_zooming_one_plane_zooms_the_others_to_the_same_scale_around_the_voxel(qtbot, window, small_file):
    w = window
    assert w.open_file(small_file)
    w.set_ortho_method("truth")
    w.ortho_action.setChecked(True)
    w.set_ortho_voxel((10, 12, 8))
    qtbot.wait(50)
    axial = w.ortho.panes["axial"].view_box
    before = {a: w.ortho.panes[a].view_box.viewRange() for a in AXES}
    axial.scaleBy((0.25, 0.25))  # as a wheel zoom does, then the signal a mouse zoom emits
    axial.sigRangeChangedManually.emit(axial.state["mouseEnabled"])
    (x0, x1), _ = axial.viewRange()
    for axis in ("coronal", "sagittal"):
        pane = w.ortho.panes[axis]
        (cx0, cx1), (cy0, cy1) = pane.view_box.viewRange()
        assert (cx1 - cx0) < 0.5 * (before[axis][0][1] - before[axis][0][0])  # it zoomed in as well
        geom = w.data.geometry(axis)
        _, row, col = geom.position(w.ortho_voxel)
        assert cx0 < (col + 0.5) * geom.pixel_size[1] < cx1 and cy0 < (row + 0.5) * geom.pixel_size[0] < cy1
    widths = [np.diff(w.ortho.panes[a].view_box.viewRange()[0])[0] / w.ortho.panes[a].view_box.width() for a in AXES]
    assert max(widths) / min(widths) < 1.05  # the same mm per screen pixel in all three
