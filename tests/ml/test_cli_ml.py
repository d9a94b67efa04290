import json

import nibabel as nib
import numpy as np

from mri_denoise_gui.cli import main
from tests.conftest import phantom, write_nifti


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_denoise_end_to_end_keeps_the_header(tmp_path, tiny_model_dir, capsys):
    affine = np.array([[-1.2, 0, 0, 90], [0, 1.0, 0, -120], [0, 0, 2.5, -60], [0, 0, 0, 1]])
    src = write_nifti(tmp_path / "in.nii.gz", phantom((32, 36, 12)), affine=affine, dtype=np.int16,
                      sform_code=4, qform_code=1, descrip=b"scanner X")
    dst = tmp_path / "out.nii.gz"
    code, _, err = run(["denoise", src, dst, "--model", tiny_model_dir, "--batch-size", "5"], capsys)
    assert code == 0, err
    assert "wrote" in err and "slices" not in err  # no bar off a terminal
    a, b = nib.load(str(src)), nib.load(str(dst))
    assert b.shape == a.shape and b.get_data_dtype() == np.float32
    np.testing.assert_allclose(b.affine, a.affine)
    assert int(b.header["sform_code"]) == 4 and int(b.header["qform_code"]) == 1
    assert b.header["descrip"].tobytes().rstrip(b"\0") == b"scanner X"
    np.testing.assert_allclose(b.header.get_zooms(), a.header.get_zooms())
    sidecar = json.loads((tmp_path / "out.json").read_text())
    assert sidecar["model"]["name"] == "tiny" and sidecar["operation"] == "denoise"
    assert sidecar["normalizer"]["vmax"] > sidecar["normalizer"]["vmin"]


def test_batch_denoise_names_outputs_after_inputs(tmp_path, tiny_model_dir, capsys):
    ins = [write_nifti(tmp_path / f"s{i}.nii.gz", phantom((16, 16, 4), seed=i)) for i in range(2)]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, _, err = run(["denoise", *ins, "--output-dir", out_dir, "--model", tiny_model_dir, "--quiet"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "s0_denoised.json", "s0_denoised.nii.gz", "s1_denoised.json", "s1_denoised.nii.gz"]


def test_bad_model_folder_exits_2_with_one_line(tmp_path, phantom_file, capsys):
    bad = tmp_path / "not_a_model"
    bad.mkdir()
    code, _, err = run(["denoise", phantom_file, tmp_path / "o.nii.gz", "--model", bad], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("mri-denoise denoise: error:") and "model.json is missing" in err


def test_denoise_arguments_are_checked(tmp_path, phantom_file, tiny_model_dir, capsys):
    code, _, err = run(["denoise", phantom_file, "--model", tiny_model_dir], capsys)
    assert code == 2 and "IN OUT" in err
    code, _, err = run(["denoise", tmp_path / "missing.nii.gz", tmp_path / "o.nii.gz"], capsys)
    assert code == 2 and "no such file" in err


def test_evaluate_reports_noisy_models_and_baselines(tmp_path, tiny_model_dir, capsys):
    src = write_nifti(tmp_path / "clean.nii.gz", phantom((24, 24, 6)))
    code, out, err = run(["evaluate", "--data", src, "--model", tiny_model_dir, "--variance", "0.001", "0.004",
                          "--baselines", "wavelet", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    methods = {(r["method"], r["variance"]) for r in result["rows"]}
    assert methods == {(m, v) for m in ("noisy input", "tiny", "wavelet") for v in (0.001, 0.004)}
    noisy = [r for r in result["rows"] if r["method"] == "noisy input"]
    assert noisy[0]["psnr"] > noisy[1]["psnr"]
    assert all({"tissue_psnr", "tissue_ssim", "seconds_per_slice"} <= set(r) for r in result["rows"])
    code, out, _ = run(["evaluate", "--data", src, "--model", tiny_model_dir, "--baselines", "none"], capsys)
    assert code == 0 and "tissue PSNR" in out and "noisy input" in out


def test_train_subcommand_writes_a_model(tmp_path, capsys):
    files = [write_nifti(tmp_path / f"v{i}.nii.gz", phantom((32, 32, 12), seed=i)) for i in range(2)]
    out = tmp_path / "model"
    code, _, err = run(["train", "--data", *files, "--out", out, "--arch", "tiny", "--epochs", "1",
                        "--steps-per-epoch", "4", "--batch-size", "2", "--patch", "16",
                        "--variance-range", "0.001", "0.004", "--val-fraction", "0.5",
                        "--noise-weighting", "inverse_sigma", "--monitor", "val_psnr_metric",
                        "--ema-momentum", "0.9"], capsys)
    assert code == 0, err
    assert (out / "model.keras").is_file() and "epoch 1/1" in err
    config = json.loads((out / "model.json").read_text())["config"]
    assert (config["noise_weighting"], config["monitor"], config["ema_momentum"]) == ("inverse_sigma", "val_psnr_metric", 0.9)
    assert config["normalizer"] == {"method": "percentile", "low": 0.5, "high": 99.5} and config["volume_index"] == 0
    code, _, err = run(["train", "--data", files[0], "--out", out, "--val-fraction", "1.5"], capsys)
    assert code == 2 and "val_fraction" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(["train", "--data", files[0], "--out", out, "--normalize", "percentile",
                        "--percentiles", "99", "2"], capsys)
    assert code == 2 and "normalizer" in err and "percentiles" in err and len(err.strip().splitlines()) == 1


def test_precision_flag_is_obeyed_and_recorded(tmp_path, tiny_model_dir, capsys):
    src = write_nifti(tmp_path / "in.nii.gz", phantom((16, 16, 4)))
    code, _, err = run(["denoise", src, tmp_path / "o.nii.gz", "--model", tiny_model_dir, "--quiet",
                        "--precision", "float32"], capsys)
    assert code == 0, err
    assert "in float32" in err
    assert json.loads((tmp_path / "o.json").read_text())["model"]["precision"] == "float32"
