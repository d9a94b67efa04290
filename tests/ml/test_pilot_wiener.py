"""The Wiener refinement of the default's output (layers.PilotWiener, issue 14): what it keeps from
the noisy image is what the pilot says is signal, so detail a pilot only attenuated comes back."""

import numpy as np
import pytest

from mri_denoise_gui.ml import architectures


def _psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2))


def _refine(noisy, pilot, sigma, **options):
    from mri_denoise_gui.ml.layers import PilotWiener

    h, w = noisy.shape
    level = np.full((1, (h + 1) // 2, (w + 1) // 2, 1), 10 * sigma, np.float32)
    out = PilotWiener(**options)([noisy[None, :, :, None], pilot[None, :, :, None], level])
    return np.asarray(out)[0, :, :, 0]


def _camera(size=96):
    from skimage import data

    return (data.camera()[200:200 + size, 200:200 + size] / 255.0).astype(np.float32)


def test_with_no_noise_the_noisy_image_comes_back_whatever_the_pilot():
    rng = np.random.default_rng(0)
    noisy = rng.random((40, 52)).astype(np.float32)
    pilot = np.clip(noisy + rng.normal(0, 0.2, noisy.shape), 0, 1).astype(np.float32)
    np.testing.assert_allclose(_refine(noisy, pilot, 0.0), noisy, atol=1e-4)


@pytest.mark.parametrize("shape", [(64, 64), (37, 50)])
def test_detail_a_blurring_pilot_lost_comes_back_from_the_noisy_image(shape):
    from scipy import ndimage

    clean = _camera(96)[: shape[0], : shape[1]]
    sigma = 0.03
    noisy = (clean + np.random.default_rng(1).normal(0, sigma, clean.shape)).astype(np.float32)
    pilot = ndimage.gaussian_filter(noisy, 1.2).astype(np.float32)  # denoised, and detail attenuated
    refined = _refine(noisy, pilot, sigma)
    assert refined.shape == clean.shape
    assert _psnr(refined, clean) > _psnr(pilot, clean) + 1.0
    assert _psnr(refined, clean) > _psnr(noisy, clean) + 0.5
    # what the pilot removed entirely stays removed: a flat pilot keeps little more than block means
    flat = np.full_like(noisy, float(noisy.mean()))
    assert np.std(np.diff(_refine(noisy, flat, sigma), axis=1)) < 0.5 * np.std(np.diff(noisy, axis=1))


def test_block_must_be_a_multiple_of_stride():
    from mri_denoise_gui.ml.layers import PilotWiener

    with pytest.raises(ValueError, match="multiple of stride"):
        PilotWiener(block=8, stride=3)


def test_a_trained_net_grows_a_refinement_that_loads_safely_and_follows_strength(tmp_path):
    import keras

    from mri_denoise_gui.ml import precision
    from mri_denoise_gui.ml.strength import strength_copy
    from tests.ml.conftest import random_weights

    small = random_weights(architectures.build("resunet", width=8, levels=1, noise_level=True), seed=5)
    refined = architectures.grow(small, "resunet", width=8, levels=1, noise_level=True, wiener=True)
    assert refined.count_params() == small.count_params()  # no weights of its own
    x = np.clip(_camera(64) + np.random.default_rng(2).normal(0, 0.05, (64, 64)), 0, 1).astype(np.float32)
    x = x[None, :, :, None]
    assert not np.allclose(np.asarray(refined(x)), np.asarray(small(x)), atol=1e-3)
    # a lower strength tells the network and the refinement alike of less noise: less is removed
    gentle = np.asarray(strength_copy(refined, 0.25)(x))
    assert np.abs(gentle - x).mean() < 0.7 * np.abs(np.asarray(refined(x)) - x).mean()
    path = tmp_path / "refined.keras"
    refined.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(refined(x)), atol=1e-6)
    fast = precision.mixed_copy(refined, "bfloat16")
    assert precision.compute_dtypes(fast)["wiener"] == "float32"
    chosen = architectures.build("resunet", width=8, levels=1, noise_level=True, wiener=True,
                                 wiener_block=8, wiener_stride=4).get_layer("wiener")
    assert (chosen.block, chosen.stride) == (8, 4)  # the options reach the layer, so model.json records them
    with pytest.raises(ValueError, match="needs noise_level"):
        architectures.build("resunet", wiener=True)
