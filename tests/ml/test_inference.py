import json
import shutil

import keras
import numpy as np
import pytest

from mri_denoise_gui.ml.architectures import build
from mri_denoise_gui.ml.errors import Cancelled, ModelError
from mri_denoise_gui.ml.inference import Denoiser
from mri_denoise_gui.ml.modelfile import save_model_folder
from tests.ml.conftest import random_weights

META = {"name": "m", "architecture": "tiny", "architecture_options": {}, "stride": 4,
        "normalizer": {"method": "percentile", "low": 0.5, "high": 99.5}}


def test_save_load_gives_identical_predictions(tmp_path):
    model = random_weights(build("tiny"), seed=5, scale=0.02)
    folder = save_model_folder(model, tmp_path / "m", META)
    denoiser = Denoiser.load(folder, precision="float32")
    x = np.random.default_rng(0).random((3, 32, 40)).astype(np.float32) * 0.8
    expected = np.clip(np.asarray(model(x[..., None], training=False))[..., 0], 0, 1)
    np.testing.assert_array_equal(denoiser.denoise_slices01(x), expected)
    assert denoiser.device == "CPU" or denoiser.device.startswith("GPU")
    assert denoiser.name == "m" and denoiser.info["parameters"] == model.count_params()


def test_any_size_is_padded_and_cropped_without_retracing(tiny_model_dir):
    denoiser = Denoiser.load(tiny_model_dir)
    rng = np.random.default_rng(1)
    for shape in [(37, 45), (64, 64), (19, 23), (5, 7)]:
        out = denoiser.denoise_slice01(rng.random(shape).astype(np.float32))
        assert out.shape == shape and out.dtype == np.float32
    vol = rng.random((21, 30, 9)).astype(np.float32)
    for axis in (0, 1, 2):
        assert denoiser.denoise_volume01(vol, axis=axis, batch_size=4).shape == vol.shape
    assert denoiser._predict.experimental_get_tracing_count() == 1


def test_tiles_match_whole_slices(tiny_model_dir):
    denoiser = Denoiser.load(tiny_model_dir, precision="float32")  # exact: bfloat16 sums may block differently
    x = np.random.default_rng(2).random((2, 160, 200)).astype(np.float32)
    whole = denoiser._predict_padded(denoiser._pad(x), 2)
    tiled = denoiser._predict_tiled(denoiser._pad(x), 64, 2)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_volume_in_its_own_units_with_progress_and_cancel(tiny_model_dir):
    import threading

    denoiser = Denoiser.load(tiny_model_dir)
    data = (np.random.default_rng(3).random((24, 24, 10)) * 900 + 100).astype(np.float32)
    seen = []
    out = denoiser.denoise_volume(data, axis=2, batch_size=4, progress=lambda d, t: seen.append((d, t)))
    assert out.shape == data.shape and seen[-1] == (10, 10)
    assert 50 < float(out.mean()) < 1100
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        denoiser.denoise_volume01(data / 1000, cancel=cancel)


def test_lambda_model_is_refused(tmp_path):
    inputs = keras.Input((None, None, 1))
    outputs = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    folder = save_model_folder(keras.Model(inputs, outputs), tmp_path / "evil", META)
    with pytest.raises(ModelError, match="unsafe"):
        Denoiser.load(folder)


def test_missing_corrupt_and_mismatched_folders_are_clear(tmp_path, tiny_model_dir):
    with pytest.raises(ModelError, match="not found"):
        Denoiser.load(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="model.json is missing"):
        Denoiser.load(empty)

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.keras").write_bytes(b"not a zip file at all")
    with pytest.raises(ModelError, match="not a readable Keras model file"):
        Denoiser.load(broken)
    (broken / "model.keras").unlink()
    with pytest.raises(ModelError, match="model.keras is missing"):
        Denoiser.load(broken)

    mismatched = tmp_path / "mismatched"
    shutil.copytree(tiny_model_dir, mismatched)
    meta = json.loads((mismatched / "model.json").read_text())
    meta["parameters"] += 1
    (mismatched / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="does not match"):
        Denoiser.load(mismatched)

    (mismatched / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        Denoiser.load(mismatched)


def test_wrong_input_channels_are_refused(tmp_path):
    inputs = keras.Input((None, None, 3))
    outputs = keras.layers.Conv2D(1, 3, padding="same")(inputs)
    folder = save_model_folder(keras.Model(inputs, outputs), tmp_path / "rgb", META)
    with pytest.raises(ModelError, match="3 input channels"):
        Denoiser.load(folder)


def test_multi_channel_outputs_and_nan_weights_are_refused(tmp_path, tiny_model_dir):
    inputs = keras.Input((None, None, 1))
    folder = save_model_folder(keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(inputs)),
                               tmp_path / "rgb_out", META)
    with pytest.raises(ModelError, match="outputs 3 channels"):
        Denoiser.load(folder)
    model = Denoiser.load(tiny_model_dir).model
    model.set_weights([np.where(np.arange(w.size).reshape(w.shape) == 0, np.inf, w) for w in model.get_weights()])
    with pytest.raises(ModelError, match="NaN or infinite weights"):
        Denoiser.load(save_model_folder(model, tmp_path / "inf", META))


def test_a_normaliser_the_app_cannot_apply_is_refused_at_load(tmp_path, tiny_model_dir):
    from mri_denoise_gui.ml.modelfile import read_model_json

    for bad in ({"method": "zscore"}, {"method": "percentile", "low": 99, "high": 1},
                {"method": "percentile", "low": "0.5"}, [0.5, 99.5]):
        folder = tmp_path / f"bad{len(list(tmp_path.iterdir()))}"
        shutil.copytree(tiny_model_dir, folder)
        meta = json.loads((folder / "model.json").read_text())
        meta["normalizer"] = bad
        (folder / "model.json").write_text(json.dumps(meta))
        with pytest.raises(ModelError, match="normalizer"):
            read_model_json(folder)  # what the window's model list and the CLI's info read
        with pytest.raises(ModelError, match="normalizer"):
            Denoiser.load(folder)
