import numpy as np
import pytest

from mri_denoise_gui.core.noise import NOISE_KINDS, NoiseError, add_noise, sigma_from_variance
from mri_denoise_gui.core.normalize import Normalizer


def test_percentile_normaliser_maps_to_unit_range_and_back():
    rng = np.random.default_rng(0)
    data = rng.normal(500, 100, (30, 30, 30)).astype(np.float32)
    norm = Normalizer().fit(data)
    out = norm.forward(data)
    assert out.min() == 0.0 and out.max() == 1.0
    assert norm.vmin == pytest.approx(np.percentile(data, 0.5))
    unclipped = norm.forward(data, clip=False)
    np.testing.assert_allclose(norm.inverse(unclipped), data, rtol=1e-5, atol=1e-3)


def test_minmax_and_json_round_trip():
    data = np.linspace(-3, 7, 1000, dtype=np.float32)
    norm = Normalizer(method="minmax").fit(data)
    assert (norm.vmin, norm.vmax) == (-3.0, 7.0)
    again = Normalizer.from_dict(norm.to_dict())
    assert again == norm
    np.testing.assert_allclose(again.forward(data), norm.forward(data))


@pytest.mark.parametrize("value", [0.0, 42.0])
def test_constant_volume_is_safe(value):
    data = np.full((5, 5, 5), value, np.float32)
    norm = Normalizer().fit(data)
    out = norm.forward(data)
    assert np.isfinite(out).all() and out.max() == 0.0
    np.testing.assert_allclose(norm.inverse(out), data)


def test_mostly_empty_volume_falls_back_to_min_max():
    data = np.zeros((20, 20, 20), np.float32)
    data[0, 0, :5] = 100
    norm = Normalizer().fit(data)
    assert norm.vmax == 100.0


def test_unfitted_and_bad_settings_are_errors():
    with pytest.raises(ValueError, match="not fitted"):
        Normalizer().forward(np.zeros(3))
    with pytest.raises(ValueError, match="percentiles"):
        Normalizer(low=60, high=40)
    with pytest.raises(ValueError, match="minmax"):
        Normalizer(method="zscore")


FLAT = np.full((128, 128, 8), 0.5, np.float32)


@pytest.mark.parametrize("kind", ["gaussian", "localvar"])
def test_gaussian_variance_measures_what_was_asked(kind):
    noisy = add_noise(FLAT, kind, 0.01, seed=3)
    assert np.var(noisy - FLAT) == pytest.approx(0.01, rel=0.1)
    assert abs(float(np.mean(noisy - FLAT))) < 0.005


def test_localvar_equals_gaussian_with_uniform_variance():
    a = add_noise(FLAT, "localvar", 0.004, seed=1)
    b = add_noise(FLAT, "gaussian", 0.004, seed=1)
    assert np.var(a - FLAT) == pytest.approx(np.var(b - FLAT), rel=0.05)


def test_rician_background_mean_is_sigma_sqrt_pi_over_2():
    variance = 0.0025
    noisy = add_noise(np.zeros((128, 128, 8), np.float32), "rician", variance, seed=5)
    expected = sigma_from_variance(variance) * np.sqrt(np.pi / 2)
    assert noisy.mean() == pytest.approx(expected, rel=0.07)
    assert noisy.min() >= 0


def test_rician_in_bright_tissue_is_nearly_gaussian():
    noisy = add_noise(np.full((128, 128, 4), 0.8, np.float32), "rician", 0.0004, seed=2)
    assert np.std(noisy) == pytest.approx(0.02, rel=0.1)


def test_speckle_and_poisson_scale_with_intensity():
    img = np.concatenate([np.full((64, 64, 4), 0.2), np.full((64, 64, 4), 0.8)], axis=0).astype(np.float32)
    for kind in ("speckle", "poisson"):
        noisy = add_noise(img, kind, 0.01, seed=0, clip=False)
        dark, bright = np.var(noisy[:64] - 0.2), np.var(noisy[64:] - 0.8)
        assert bright > 2 * dark, kind
    poisson = add_noise(np.full((128, 128, 4), 1.0, np.float32), "poisson", 0.01, seed=0, clip=False)
    assert np.var(poisson) == pytest.approx(0.01, rel=0.1)


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_seeded_noise_is_reproducible_and_seed_matters(kind):
    img = np.random.default_rng(0).random((16, 16, 4)).astype(np.float32)
    a = add_noise(img, kind, 0.01, seed=7)
    b = add_noise(img, kind, 0.01, seed=7)
    c = add_noise(img, kind, 0.01, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.float32 and a.shape == img.shape
    assert a.min() >= 0 and a.max() <= 1


def test_clip_keeps_bright_tail_above_one():
    img = np.full((8, 8), 1.3, np.float32)
    out = add_noise(img, "gaussian", 0.0001, seed=0)
    assert out.max() > 1.0 and out.max() <= 1.3


def test_2d_images_work():
    assert add_noise(np.full((10, 12), 0.5, np.float32), "rician", 0.001, seed=1).shape == (10, 12)


def test_bad_kind_lists_choices_and_negative_variance_is_refused():
    with pytest.raises(NoiseError, match="gaussian, localvar, rician, speckle, poisson"):
        add_noise(FLAT, "salt", 0.01)
    with pytest.raises(NoiseError, match=">= 0"):
        add_noise(FLAT, "gaussian", -0.1)
    with pytest.raises(NoiseError, match="normalise"):
        add_noise(FLAT * 1000, "gaussian", 0.01)
    with pytest.raises(NoiseError, match="NaN"):
        add_noise(np.full((4, 4), np.nan, np.float32), "gaussian", 0.01)


def test_zero_variance_returns_the_image():
    np.testing.assert_array_equal(add_noise(FLAT, "rician", 0.0, seed=1), FLAT)


def test_a_few_hot_voxels_are_accepted_an_unnormalised_image_is_not():
    img = np.random.default_rng(0).random((32, 32, 8)).astype(np.float32)
    img[3, 4, 5] = 500.0  # one very bright voxel, as the CLI keeps it (forward(clip=False))
    for kind in NOISE_KINDS:
        assert np.isfinite(add_noise(img, kind, 0.01, seed=0)).all()
    with pytest.raises(NoiseError, match="outside"):
        add_noise(img * 100, "gaussian", 0.01)


def test_poisson_takes_values_below_zero_and_tiny_variances():
    img = np.linspace(-0.2, 1.0, 4096, dtype=np.float32).reshape(64, 64)
    out = add_noise(img, "poisson", 0.01, seed=1, clip=False)
    np.testing.assert_array_equal(out[img < 0], img[img < 0])  # no counts below zero: unchanged
    fine = add_noise(img, "poisson", 1e-12, seed=1, clip=False)  # mean counts ~1e12: normal approximation
    np.testing.assert_allclose(fine, img, atol=1e-4)
