"""Denoising strength (ml/strength.py): what the network is told, what it removes, where it is refused."""

import json

import nibabel as nib
import numpy as np
import pytest

from mri_denoise_gui.cli import main
from mri_denoise_gui.core.noise import add_noise
from mri_denoise_gui.ml import precision
from mri_denoise_gui.ml.architectures import build
from mri_denoise_gui.ml.errors import ModelError
from mri_denoise_gui.ml.inference import Denoiser
from mri_denoise_gui.ml.layers import NoiseLevelMap, PixelUnshuffle
from mri_denoise_gui.ml.modelfile import save_model_folder
from mri_denoise_gui.resources import default_model_dir
from tests.conftest import phantom, write_nifti
from tests.ml.conftest import random_weights

META = {"name": "m", "architecture": "resunet", "stride": 4,
        "architecture_options": {"width": 8, "levels": 1, "noise_level": True},
        "normalizer": {"method": "percentile", "low": 0.5, "high": 99.5}}


@pytest.fixture(scope="module")
def noise_model_dir(tmp_path_factory):
    model = random_weights(build("resunet", **META["architecture_options"]), seed=5, scale=0.1)
    return save_model_folder(model, tmp_path_factory.mktemp("models") / "m", META)


def noisy_phantom(shape=(48, 48), sigma=0.05, seed=1):
    clean = phantom((*shape, 8), seed=seed)[..., 4]
    clean = (clean - clean.min()) / (clean.max() - clean.min())
    return np.clip(add_noise(clean, "rician", sigma * sigma, seed=seed), 0, 1).astype(np.float32)


def test_the_noise_channel_is_told_strength_times_the_estimate():
    x = PixelUnshuffle(2)(noisy_phantom()[None, ..., None])
    told = float(np.asarray(NoiseLevelMap(gain=0.5)(x))[0, 0, 0, 0])
    assert told == pytest.approx(0.5 * float(np.asarray(NoiseLevelMap()(x))[0, 0, 0, 0]), rel=1e-6)
    assert "gain" not in NoiseLevelMap().get_config()  # saved models look as they always did
    assert NoiseLevelMap(gain=0.5).get_config()["gain"] == 0.5


def test_a_told_copy_reads_the_given_sigma_not_the_image(noise_model_dir):
    from mri_denoise_gui.ml.strength import told_copy

    model = Denoiser.load(noise_model_dir, precision="float32").model
    x = PixelUnshuffle(2)(noisy_phantom(sigma=0.05)[None, ..., None])
    assert float(np.asarray(NoiseLevelMap(told=0.02)(x))[0, 0, 0, 0]) == pytest.approx(0.2)
    assert "told" not in NoiseLevelMap().get_config()
    image = noisy_phantom(sigma=0.05)[None, ..., None]
    estimate = float(np.asarray(NoiseLevelMap()(x))[0, 0, 0, 0]) / 10
    near = told_copy(model, estimate)  # told what it would have estimated: the same output
    np.testing.assert_allclose(np.asarray(near(image)), np.asarray(model(image)), atol=1e-5)
    far = told_copy(model, 0.2)
    assert np.abs(np.asarray(far(image)) - np.asarray(model(image))).max() > 1e-3
    with pytest.raises(ValueError, match="sigma"):
        told_copy(model, float("nan"))


def test_strength_changes_the_output_keeps_the_precision_and_never_the_saved_network(noise_model_dir):
    denoiser = Denoiser.load(noise_model_dir, precision="bfloat16")
    image = noisy_phantom()
    at_one = denoiser.denoise_slice01(image)
    assert denoiser.set_strength(0.5) == 0.5 and denoiser.provenance()["strength"] == 0.5
    at_half = denoiser.denoise_slice01(image)
    assert np.abs(at_half - at_one).max() > 1e-3
    assert precision.compute_dtypes(denoiser.compute_model)["enc0_b"] == "float32"  # the head, as before
    assert denoiser.precision == "bfloat16"
    gains = [layer.gain for layer in denoiser.compute_model.layers if isinstance(layer, NoiseLevelMap)]
    assert gains == [0.5]
    assert [layer.gain for layer in denoiser.model.layers if isinstance(layer, NoiseLevelMap)] == [1.0]
    denoiser.set_strength(1.0)
    np.testing.assert_array_equal(denoiser.denoise_slice01(image), at_one)


def test_loading_at_a_strength_builds_the_copy_once_and_matches_setting_it_after(noise_model_dir, monkeypatch):
    image = noisy_phantom()
    later = Denoiser.load(noise_model_dir, precision="bfloat16")
    later.set_strength(0.5)
    builds = []
    real_copy = precision.mixed_copy
    monkeypatch.setattr(precision, "mixed_copy", lambda *a, **k: builds.append(a[1]) or real_copy(*a, **k))
    at_load = Denoiser.load(noise_model_dir, precision="bfloat16", strength=0.5)
    assert builds.count("bfloat16") == 1 and at_load.strength == 0.5
    np.testing.assert_array_equal(at_load.denoise_slice01(image), later.denoise_slice01(image))


def test_the_shipped_default_removes_more_at_higher_strength():
    denoiser = Denoiser.load(default_model_dir(), precision="float32")
    image = noisy_phantom((64, 64), sigma=0.05)
    removed = {}
    for strength in (0.5, 1.0, 2.0):
        denoiser.set_strength(strength)
        removed[strength] = float(np.std(image - denoiser.denoise_slice01(image)))
    assert removed[0.5] < removed[1.0] < removed[2.0], removed


def test_models_without_a_noise_input_and_values_out_of_range_are_refused(tmp_path, tiny_model_dir):
    denoiser = Denoiser.load(tiny_model_dir, precision="float32")
    assert denoiser.set_strength(1.0) == 1.0  # as trained: always fine
    with pytest.raises(ModelError, match="no noise-level input"):
        denoiser.set_strength(0.5)
    assert denoiser.strength == 1.0
    with pytest.raises(ValueError, match="between 0.25 and 4"):
        denoiser.set_strength(0.1)
    with pytest.raises(ValueError, match="between 0.25 and 4"):
        denoiser.set_strength(float("nan"))
    with pytest.raises(ModelError, match="no noise-level input"):
        Denoiser.load(tiny_model_dir, precision="float32", strength=0.5)
    lenient = Denoiser.load(tiny_model_dir, precision="float32", strength=0.5, strict_strength=False)
    assert lenient.strength == 1.0  # the window's remembered strength is for models with the input


def test_cli_denoise_at_a_strength_records_it_and_refuses_models_without_the_input(
        tmp_path, noise_model_dir, tiny_model_dir, capsys):
    src = write_nifti(tmp_path / "in.nii.gz", 100 * phantom((32, 32, 6)))
    outs = {}
    for strength in ("1", "0.5"):
        dst = tmp_path / f"out_{strength}.nii.gz"
        assert main(["denoise", str(src), str(dst), "--model", str(noise_model_dir), "--strength", strength]) == 0
        err = capsys.readouterr().err
        assert ("at strength 0.5" in err) == (strength == "0.5"), err
        outs[strength] = np.asarray(nib.load(str(dst)).dataobj)
        sidecar = json.loads((tmp_path / f"out_{strength}.json").read_text())
        assert sidecar["model"]["strength"] == float(strength)
    assert np.abs(outs["1"] - outs["0.5"]).max() > 1e-3
    code = main(["denoise", str(src), str(tmp_path / "x.nii.gz"), "--model", str(tiny_model_dir), "--strength", "0.5"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no noise-level input" in err, err
    assert not (tmp_path / "x.nii.gz").exists()
    with pytest.raises(SystemExit):
        main(["denoise", str(src), str(tmp_path / "y.nii.gz"), "--strength", "5"])
    assert "from 0.25 to 4" in capsys.readouterr().err
