"""The one rule for where training may publish a model (ml/output_folder.py), without TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mri_denoise_gui.ml.errors import ModelError
from mri_denoise_gui.ml.modelfile import publish_folder
from mri_denoise_gui.ml.output_folder import is_own_model_folder, output_problem


def own_model(folder, **versions):
    folder.mkdir(parents=True)
    (folder / "model.keras").write_bytes(b"PK not really")
    meta = {"format_version": 1, "versions": versions or {"mri_denoise_gui": "0.1.0"}}
    (folder / "model.json").write_text(json.dumps(meta))
    (folder / "training_log.csv").write_text("epoch,loss\n")
    return folder


def test_only_this_apps_own_model_folders_count_as_models(tmp_path):
    assert is_own_model_folder(own_model(tmp_path / "ours"))
    assert not is_own_model_folder(own_model(tmp_path / "theirs", other_app="2.0"))
    extra = own_model(tmp_path / "extra")
    (extra / "thesis.tex").write_text("years of work")
    assert not is_own_model_folder(extra)
    nested = own_model(tmp_path / "nested")
    (nested / "training_log.csv").unlink()
    (nested / "training_log.csv").mkdir()  # a folder with one of our names is still not ours
    assert not is_own_model_folder(nested)
    broken = own_model(tmp_path / "broken")
    (broken / "model.json").write_text("[1, 2]")
    assert not is_own_model_folder(broken)
    (tmp_path / "link").symlink_to(tmp_path / "ours")
    assert is_own_model_folder(tmp_path / "link")  # what it points to decides
    linked = own_model(tmp_path / "linked")
    (linked / "model.keras").unlink()
    (linked / "model.keras").symlink_to(tmp_path / "extra" / "thesis.tex")
    assert not is_own_model_folder(linked)


def test_output_problem_names_every_trap(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    scan = data / "a.nii.gz"
    scan.write_bytes(b"scan")
    os.link(scan, tmp_path / "hard.nii.gz")
    (tmp_path / "soft").symlink_to(data)
    model = own_model(tmp_path / "model")
    empty = tmp_path / "empty"
    empty.mkdir()

    assert output_problem(tmp_path / "new" / "deeper") is None
    assert output_problem(empty) is None
    assert output_problem(model, [data]) is None
    assert "training input" in output_problem(data, [data])
    assert "training input" in output_problem(tmp_path / "soft", [data])
    assert "training input" in output_problem(data / ".." / "data", [str(data)])
    assert "training input" in output_problem(tmp_path / "hard.nii.gz", [scan])
    assert "inside the training data" in output_problem(data / "models" / "m", [data])
    assert "a file in the training data folder" in output_problem(scan, [data])
    assert "not a model" in output_problem(data, [scan])
    assert "a file, not a folder" in output_problem(tmp_path / "hard.nii.gz")
    assert "fine-tuned" in output_problem(model, [], init_from=tmp_path / "model")
    assert "not a folder" in output_problem(scan / "model")


def test_publish_never_replaces_a_folder_it_did_not_write(tmp_path):
    staging = own_model(tmp_path / ".staging")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(ModelError, match="not a model"):
        publish_folder(staging, mine)
    assert (mine / "thesis.tex").read_text() == "years of work" and staging.is_dir()

    old = own_model(tmp_path / "old")
    publish_folder(staging, old)
    assert is_own_model_folder(old) and not staging.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "old"]  # nothing kept aside


def test_publish_through_a_link_keeps_what_it_pointed_to(tmp_path):
    target = own_model(tmp_path / "target")
    (tmp_path / "link").symlink_to(target)
    publish_folder(own_model(tmp_path / ".staging"), tmp_path / "link")
    assert target.is_dir() and (tmp_path / "link").is_dir() and not (tmp_path / "link").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "target"]


def test_the_rule_imports_without_tensorflow():
    code = ("import sys; from mri_denoise_gui.ml import output_folder, modelfile; "
            "from mri_denoise_gui.cli import build_parser; "
            "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
