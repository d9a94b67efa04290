import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

from mri_denoise_gui.cli import main
from mri_denoise_gui.core.metrics import psnr
from tests.conftest import phantom, write_nifti


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_info_reports_geometry(phantom_file, capsys):
    code, out, _ = run(["info", phantom_file], capsys)
    assert code == 0
    assert "32 x 40 x 24" in out and "1 x 1.2 x 2 mm" in out and "RAS" in out and "float32" in out


def test_info_counts_4d_volumes(tmp_path, capsys):
    path = write_nifti(tmp_path / "f.nii.gz", np.zeros((4, 4, 4, 5)))
    code, out, _ = run(["info", path], capsys)
    assert code == 0 and "volumes:      5" in out


@pytest.mark.parametrize("bad", ["missing.nii.gz", "folder", "text.nii"])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, bad):
    (tmp_path / "folder").mkdir()
    (tmp_path / "text.nii").write_text("not an image " * 50)
    code, out, err = run(["info", tmp_path / bad], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("mri-denoise info: error:")


def test_add_noise_is_reproducible_and_records_provenance(phantom_file, tmp_path, capsys):
    a, b = tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"
    for out in (a, b):
        code, _, _ = run(["add-noise", phantom_file, out, "--kind", "rician", "--variance", "0.0025", "--seed", "4"], capsys)
        assert code == 0
    np.testing.assert_array_equal(np.asarray(nib.load(str(a)).dataobj), np.asarray(nib.load(str(b)).dataobj))
    sidecar = json.loads((tmp_path / "a.json").read_text())
    assert sidecar["noise"] == {
        "kind": "rician", "variance": 0.0025, "sigma": 0.05, "seed": 4, "defined_on": "normalised [0, 1] intensities",
    }
    assert sidecar["normalizer"]["method"] == "percentile"
    clean = np.asarray(nib.load(str(phantom_file)).dataobj)
    noisy = np.asarray(nib.load(str(a)).dataobj)
    assert noisy.dtype == np.float32
    # back in the input's units: the tissue mean is preserved, the noise is real
    assert abs(noisy[clean > 800].mean() - clean[clean > 800].mean()) < 30
    assert np.std(noisy[clean == 0]) > 5


def test_add_noise_keeps_an_oblique_affine_and_its_codes(tmp_path, capsys):
    theta = np.deg2rad(12)
    affine = np.array(
        [[np.cos(theta), -np.sin(theta), 0, -30], [np.sin(theta), np.cos(theta), 0, 20], [0, 0, 1.5, -10], [0, 0, 0, 1]]
    )
    src = write_nifti(tmp_path / "obl.nii.gz", phantom(), affine=affine, dtype=np.int16, sform_code=4, qform_code=1)
    out = tmp_path / "noisy.nii.gz"
    assert run(["add-noise", src, out, "--kind", "gaussian", "--variance", "0.001", "--seed", "1"], capsys)[0] == 0
    before, after = nib.load(str(src)).header, nib.load(str(out)).header
    np.testing.assert_allclose(after.get_sform(), before.get_sform(), atol=1e-6)
    np.testing.assert_allclose(after.get_qform(), before.get_qform(), atol=1e-6)
    assert (int(after["sform_code"]), int(after["qform_code"])) == (4, 1)
    assert after.get_zooms() == pytest.approx(before.get_zooms())


def test_add_noise_refuses_to_overwrite_input(phantom_file, capsys):
    before = phantom_file.read_bytes()
    code, _, err = run(["add-noise", phantom_file, phantom_file, "--variance", "0.01"], capsys)
    assert code == 2 and "overwrite" in err
    assert phantom_file.read_bytes() == before


def test_add_noise_bad_variance_is_a_usage_error(phantom_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["add-noise", str(phantom_file), str(tmp_path / "x.nii.gz"), "--variance", "-1"])
    assert info.value.code == 2
    assert "must be a number >= 0" in capsys.readouterr().err


def test_metrics_json_and_per_slice(phantom_file, tmp_path, capsys):
    noisy = tmp_path / "n.nii.gz"
    run(["add-noise", phantom_file, noisy, "--variance", "0.004", "--seed", "2", "--kind", "gaussian"], capsys)
    code, out, _ = run(["metrics", phantom_file, noisy, "--json"], capsys)
    assert code == 0
    scores = json.loads(out)
    assert set(scores) == {"ssim", "psnr", "nrmse"} and 15 < scores["psnr"] < 40
    code, out, _ = run(["metrics", phantom_file, noisy, "--axis", "2", "--mask"], capsys)
    assert code == 0 and "inside the foreground mask" in out
    assert len([line for line in out.splitlines() if line.strip() and line.split()[0].isdigit()]) == 24
    code, out, _ = run(["metrics", phantom_file, phantom_file, "--json"], capsys)
    assert json.loads(out)["psnr"] == "inf"


def test_metrics_shape_mismatch_exits_2(phantom_file, tmp_path, capsys):
    other = write_nifti(tmp_path / "o.nii.gz", np.zeros((3, 3, 3)))
    code, _, err = run(["metrics", phantom_file, other], capsys)
    assert code == 2 and "shapes differ" in err


def test_console_script_runs_as_a_process(phantom_file):
    proc = subprocess.run(
        [sys.executable, "-m", "mri_denoise_gui.cli", "info", str(phantom_file.parent / "nope.nii")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "no such file" in proc.stderr


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and "mri-denoise-gui" in capsys.readouterr().out


def test_an_unexpected_error_is_one_line_naming_a_log_with_the_traceback(phantom_file, tmp_path, capsys, monkeypatch):
    import tempfile

    import mri_denoise_gui.cli as cli

    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not a bad input")

    monkeypatch.setattr(cli, "load_volume", broken)  # stands in for any programming error
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code, _, err = run(["info", phantom_file], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    logs = list(tmp_path.glob("mri-denoise-info-*.log"))
    assert len(logs) == 1 and str(logs[0]) in err
    assert "Traceback" in logs[0].read_text() and "a bug, not a bad input" in logs[0].read_text()


def test_load_warnings_reach_stderr_of_every_command(tmp_path, capsys):
    data = phantom((16, 16, 8))
    data[0, 0, 0] = np.nan
    src = write_nifti(tmp_path / "nan.nii.gz", data)
    code, _, err = run(["add-noise", src, tmp_path / "n.nii.gz", "--variance", "0.01"], capsys)
    assert code == 0 and "mri-denoise add-noise: warning:" in err and "1 NaN/Inf voxel replaced by 0" in err
