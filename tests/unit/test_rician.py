"""The Rician noise floor: its mean against Monte Carlo, and the signal recovered under it."""

import numpy as np
import pytest

from mri_denoise_gui.core import rician
from mri_denoise_gui.core.noise import add_noise


@pytest.mark.parametrize("x", [0.0, 0.02, 0.05, 0.1, 0.4])
def test_rician_mean_matches_monte_carlo(x):
    sigma = 0.05
    rng = np.random.default_rng(int(x * 100))
    samples = np.hypot(x + rng.normal(0, sigma, 400_000), rng.normal(0, sigma, 400_000))
    assert float(rician.rician_mean(np.float64(x), sigma)) == pytest.approx(samples.mean(), abs=2e-4)


def test_rician_mean_stays_finite_at_high_snr():
    assert float(rician.rician_mean(np.float64(0.9), 0.001)) == pytest.approx(np.hypot(0.9, 0.001), rel=1e-6)


def test_floor_map_recovers_dark_signal_the_noisy_mean_overstates():
    sigma = 0.05
    clean = np.full((1, 96, 96), 0.06, np.float32)  # dark tissue: about one sigma
    clean[:, :, 48:] = 0.6  # and bright tissue beside it
    noisy = add_noise(clean, "rician", sigma**2, seed=3, clip=False)
    mean, floor, variance = rician.floor_map(noisy, sigma)
    dark, bright = (slice(None), slice(8, 88), slice(4, 40)), (slice(None), slice(8, 88), slice(56, 92))
    assert noisy[dark].mean() - 0.06 > 0.02  # the floor the noisy mean carries
    assert abs((noisy - floor)[dark].mean() - 0.06) < 0.008  # taken out
    assert floor[bright].mean() < 0.004 and abs((noisy - floor)[bright].mean() - 0.6) < 0.003
    assert np.all(mean >= floor)
    assert variance[dark].mean() < 0.8 * sigma**2 and variance[bright].mean() == pytest.approx(sigma**2, rel=0.02)


def test_rician_sure_scores_removing_the_floor_as_better_plain_sure_the_reverse():
    from mri_denoise_gui.core.noref import sure_mse

    sigma = 0.05
    clean = np.full((2, 96, 96), 0.05, np.float32)  # dark tissue, one sigma
    clean[:, :, 48:] = 0.5
    noisy = add_noise(clean, "rician", sigma**2, seed=4, clip=False)
    keeps_floor = rician.rician_mean(clean, sigma).astype(np.float32)  # E[y]: the floor left in
    mask = np.ones_like(clean, bool)
    true = {"signal": 0.0, "floor": float(((keeps_floor - clean) ** 2).mean())}
    scores = {}
    for flag in (False, True):
        scores[flag] = {name: sure_mse(noisy, lambda s, o=out: o, sigma, axis=0, mask=mask, rician=flag)["volume"]
                        for name, out in (("signal", clean), ("floor", keeps_floor))}
    assert scores[False]["floor"] < scores[False]["signal"]  # plain SURE: keeping the floor looks better
    assert scores[True]["signal"] < scores[True]["floor"]  # as it truly is
    for name in true:
        assert scores[True][name] == pytest.approx(true[name], abs=0.25 * true["floor"])
