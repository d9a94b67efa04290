"""ROI files (viewer/rois.py): what is written reads back, and a file that is not one is refused in one line."""

import json

import pytest

from mri_denoise_gui.core.outputs import write_file_atomic
from mri_denoise_gui.viewer.rois import FORMAT, RoiSpec, rois_from_json, rois_to_json


def test_rois_round_trip_through_json():
    specs = [RoiSpec("rect", "denoised", "axial", (8.0, 12.0), (12.0, 10.0)),
             RoiSpec("line", "noisy", "coronal", (3.5, 7.25), (20.0, -0.5))]
    assert rois_from_json(rois_to_json(specs)) == specs


@pytest.mark.parametrize("doc, words", [
    ("{not json", "not a JSON file"),
    (json.dumps({"rois": []}), "not a regions-of-interest file"),
    (json.dumps({"format": FORMAT, "version": 9, "rois": []}), "version 9"),
    (json.dumps({"format": FORMAT, "version": 1, "rois": {}}), "no list"),
    (json.dumps({"format": FORMAT, "version": 1, "rois": [{"kind": "star", "pane": "noisy", "axis": "axial",
                                                           "pos": [0, 0], "size": [1, 1]}]}), "unknown kind"),
    (json.dumps({"format": FORMAT, "version": 1, "rois": [{"kind": "rect", "pane": "noisy", "axis": "oblique",
                                                           "pos": [0, 0], "size": [1, 1]}]}), "unknown axis"),
    (json.dumps({"format": FORMAT, "version": 1, "rois": [{"kind": "rect", "pane": "noisy", "axis": "axial",
                                                           "pos": [0, "x"], "size": [1, 1]}]}), "pos must be"),
    (json.dumps({"format": FORMAT, "version": 1, "rois": [{"kind": "ellipse", "pane": "noisy", "axis": "axial",
                                                           "pos": [0, 0], "size": [0, 1]}]}), "positive width"),
    ('{"format": "%s", "version": 1, "rois": [{"kind": "rect", "pane": "noisy", "axis": "axial", '
     '"pos": [NaN, 0], "size": [1, 1]}]}' % FORMAT, "finite"),
])
def test_files_that_are_not_roi_files_are_refused_with_the_reason(doc, words):
    with pytest.raises(ValueError, match=words):
        rois_from_json(doc)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "rois.json"
    target.write_text("old")
    real_replace = __import__("os").replace

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("mri_denoise_gui.core.outputs.os.replace", full_disk)
    with pytest.raises(OSError):
        write_file_atomic(target, "new")
    monkeypatch.setattr("mri_denoise_gui.core.outputs.os.replace", real_replace)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["rois.json"]
    write_file_atomic(target, "new")
    assert target.read_text() == "new"
