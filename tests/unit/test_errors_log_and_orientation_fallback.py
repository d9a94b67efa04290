"""errors_log (one line for a person, the traceback in a log) and the display's fallback for
affines that cannot orient anything (issue 12). No Qt, no TensorFlow."""

from __future__ import annotations

import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

from mri_denoise_gui import errors_log
from mri_denoise_gui.core.orientation import SliceGeometry, affine_problem, axis_codes, orientation_warning
from mri_denoise_gui.core.volume import VolumeError
from tests.unit.test_layering import BLOCK


def _raised(exc):
    try:
        raise exc
    except Exception as caught:
        return caught


def test_an_expected_error_is_its_own_line_and_logs_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("MRI_DENOISE_LOG_DIR", str(tmp_path))
    reason, details = errors_log.describe(_raised(VolumeError("scan.nii: the file is empty (0 bytes)\nmore")))
    assert reason == "scan.nii: the file is empty (0 bytes)"
    assert "Traceback" in details and not (tmp_path / errors_log.LOG_NAME).exists()
    assert errors_log.describe(_raised(PermissionError(13, "Permission denied", "/x")))[0].endswith("'/x'")


def test_a_bug_names_the_log_that_holds_its_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("MRI_DENOISE_LOG_DIR", str(tmp_path / "logs"))
    reason, _ = errors_log.describe(_raised(IndexError("index 0 is out of bounds")), "open")
    log = tmp_path / "logs" / errors_log.LOG_NAME
    assert "\n" not in reason and "IndexError: index 0 is out of bounds" in reason and str(log) in reason
    assert "Traceback" in log.read_text() and "_raised" in log.read_text()
    errors_log.describe(_raised(KeyError("second")))
    assert log.read_text().count("Traceback") == 2  # appended, not replaced


def test_an_unwritable_log_still_gives_one_line(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log folder should be")
    monkeypatch.setenv("MRI_DENOISE_LOG_DIR", str(blocker))
    reason, _ = errors_log.describe(_raised(RuntimeError("boom")))
    assert "RuntimeError: boom" in reason and "could not be written" in reason and "\n" not in reason


def test_errors_log_imports_without_qt_or_tensorflow():
    code = BLOCK + "import mri_denoise_gui.errors_log\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


COLLINEAR = np.array([[1.0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])


@pytest.mark.parametrize("affine", [np.zeros((4, 4)), np.full((4, 4), np.nan), COLLINEAR],
                         ids=["zero", "nan", "collinear"])
def test_an_unusable_affine_falls_back_to_the_voxel_axes(affine):
    assert affine_problem(affine) and "orientation unknown" in orientation_warning(affine)
    assert axis_codes(affine) == "???"
    data = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    reference = SliceGeometry(data.shape, np.eye(4), "axial")
    for axis in ("axial", "coronal", "sagittal"):
        geom = SliceGeometry(data.shape, affine, axis)
        ras = SliceGeometry(data.shape, np.eye(4), axis)  # what the voxel axes read as RAS show
        assert geom.file_axis == ras.file_axis and geom.pixel_size == (1.0, 1.0)
        assert set(geom.labels.values()) == {""}
        np.testing.assert_array_equal(geom.extract(data, 1), ras.extract(data, 1))
    assert reference.labels["left"] == "R"


def test_a_usable_affine_is_untouched():
    rng = np.random.default_rng(0)
    for _ in range(20):
        rotation, _ = np.linalg.qr(rng.standard_normal((3, 3)))
        affine = np.eye(4)
        affine[:3, :3] = rotation @ np.diag(rng.uniform(0.5, 3, 3))
        assert affine_problem(affine) is None and orientation_warning(affine) is None
        assert axis_codes(affine) == "".join(nib.aff2axcodes(affine))
