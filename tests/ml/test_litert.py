"""The LiteRT copy of a model: written beside model.keras, agrees with TensorFlow, ignored when stale."""

import shutil

import numpy as np

from mri_denoise_gui.ml.inference import Denoiser
from mri_denoise_gui.ml.litert import LITE_FILE, LITE_META, LiteDenoiser, lite_is_fresh, write_lite_copy


def test_lite_copy_agrees_with_tensorflow_and_goes_stale(tmp_path, tiny_model_dir):
    folder = tmp_path / "tiny"
    shutil.copytree(tiny_model_dir, folder)
    assert LiteDenoiser.load(folder) is None  # no copy yet: wait for TensorFlow
    write_lite_copy(folder)
    assert (folder / LITE_FILE).stat().st_size > 1000 and lite_is_fresh(folder)
    lite = LiteDenoiser.load(folder)
    exact = Denoiser.load(folder, precision="float32")
    rng = np.random.default_rng(4)
    for shape in [(37, 45), (64, 64), (5, 7)]:  # padded and cropped like the TF path, any size
        x = rng.random(shape).astype(np.float32)
        ours = lite.denoise_slice01(x)
        assert ours.shape == shape and ours.dtype == np.float32
        np.testing.assert_allclose(ours, exact.denoise_slice01(x), atol=1e-5)
    assert np.abs(lite.denoise_slice01(x) - x).max() > 1e-3  # the network really ran
    assert lite.denoise_slice01(np.zeros((1100, 1000), np.float32)) is None  # too large: TF tiles it

    (folder / "model.keras").write_bytes((folder / "model.keras").read_bytes() + b"\0")  # a new model.keras
    assert not lite_is_fresh(folder) and LiteDenoiser.load(folder) is None
    (folder / LITE_META).write_text("not json")
    assert not lite_is_fresh(folder)
