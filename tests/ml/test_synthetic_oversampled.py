"""The oversampled synthetic domain (ml/synthetic_oversampled.py): slices interpolated onto a finer
grid, smooth at the pixel scale, as zero-filled or interpolated reconstructions are (issue 14)."""

import numpy as np
import pytest

from mri_denoise_gui.ml import data as mldata


@pytest.fixture(scope="module")
def maps():
    from mri_denoise_gui.ml.synthetic import TissueMaps

    return TissueMaps.load().slab(60, 120)


def test_zero_filling_keeps_the_scale_and_interpolates_smoothly():
    from mri_denoise_gui.ml.synthetic_oversampled import zero_fill

    flat = np.full((40, 50), 0.4, np.float32)
    big = zero_fill(flat, 2.5)
    assert big.shape == (100, 125) and np.allclose(big, 0.4, atol=1e-5)
    rng = np.random.default_rng(0)
    white = rng.random((64, 64))
    fine = zero_fill(white, 3.0)
    # band-limited: neighbouring pixels of the fine grid are far more alike than the original's
    assert np.abs(np.diff(fine, axis=1)).mean() < 0.5 * np.abs(np.diff(white, axis=1)).mean()
    assert fine.mean() == pytest.approx(white.mean(), rel=0.05)  # magnitude: a little above at the dips


def test_oversampled_slices_are_smooth_at_the_pixel_scale_normalised_and_deterministic(maps):
    from mri_denoise_gui.ml.synthetic import synth_slice
    from mri_denoise_gui.ml.synthetic_oversampled import MAX_SIDE, oversampled_slice

    over = [oversampled_slice(maps, np.random.default_rng(seed)) for seed in range(12)]
    plain = [synth_slice(maps, np.random.default_rng(seed)) for seed in range(12)]
    assert all(s.dtype == np.float32 and s.min() >= 0 and s.max() <= 1 and max(s.shape) <= MAX_SIDE + 2
               for s in over)
    assert np.array_equal(oversampled_slice(maps, np.random.default_rng(4)), over[4])

    def roughness(images):  # mean neighbour difference inside the object, per unit of its level
        return np.median([np.abs(np.diff(s, axis=1))[s[:, 1:] > 0.1].mean() / s[s > 0.1].mean() for s in images])

    assert roughness(over) < 0.6 * roughness(plain)


def test_sampler_and_validation_set_use_the_domain_only_when_asked(maps, tmp_path, monkeypatch):
    from mri_denoise_gui.ml import synthetic_oversampled
    from mri_denoise_gui.ml.synthetic_sets import synthetic_training
    from mri_denoise_gui.ml.training_config import TrainingConfig

    calls = []
    make = synthetic_oversampled.oversampled_slice
    monkeypatch.setattr(synthetic_oversampled, "oversampled_slice",
                        lambda m, rng, axis=None: calls.append(axis) or make(m, rng, axis))

    def draw(share):
        sampler = mldata.SyntheticPatchSampler([maps], 64, rng=np.random.default_rng(1), patches_per_slice=1,
                                               oversampled_share=share)
        return [sampler.sample() for _ in range(10)]

    draw(0.0)
    assert calls == []
    assert all(p.shape == (64, 64) for p in draw(1.0)) and len(calls) == 10

    config = TrainingConfig(out=str(tmp_path / "m"), synthetic=True, synthetic_oversampled=0.3, val_patches=4,
                            patch_size=32)
    assert config.validate() == {}
    _, noisy, _, summary = synthetic_training(config)
    assert noisy.shape[0] == 8 and summary["validation_sets"] == {"original": 4, "oversampled": 4}
    assert "finer grid" in summary["oversampled_domain"]
    assert "synthetic_oversampled" in TrainingConfig(out="m", data=[str(tmp_path)], synthetic_oversampled=0.2).validate()
