"""The detail-rich photograph domain (ml/synthetic_detail.py) and the stage that trains on it (issue 14)."""

import sys
from pathlib import Path

import numpy as np
import pytest

from mri_denoise_gui.ml import data as mldata
from mri_denoise_gui.ml import synthetic_detail

ROOT = Path(__file__).resolve().parents[2]


def test_training_and_validation_images_never_overlap_and_all_load_without_a_download():
    assert not set(synthetic_detail.TRAIN_IMAGES) & set(synthetic_detail.VALIDATION_IMAGES)
    for name in synthetic_detail.TRAIN_IMAGES + synthetic_detail.VALIDATION_IMAGES:
        img = synthetic_detail.load_image(name)  # bundled in scikit-image's wheel: no network here
        assert img.ndim == 2 and img.dtype == np.float32
        assert img.min() == 0 and img.max() == 1 and min(img.shape) >= 150


def test_detail_slices_are_normalised_deterministic_and_often_on_a_dark_background():
    slices = [synthetic_detail.detail_slice(np.random.default_rng(seed)) for seed in range(40)]
    assert all(s.ndim == 2 and s.dtype == np.float32 and s.min() >= 0 and s.max() == pytest.approx(1) for s in slices)
    assert np.array_equal(synthetic_detail.detail_slice(np.random.default_rng(7)), slices[7])
    dark_corners = [s[:4, :4].mean() < 0.02 for s in slices]
    assert 0.2 < np.mean(dark_corners) < 0.8  # about half inside a dark field, as a scan's air
    # detail at the pixel scale, which the template's slices lack: mean absolute neighbour difference
    detail = np.median([np.abs(np.diff(s, axis=1)).mean() for s in slices])
    assert detail > 0.01


def test_only_the_named_images_are_drawn(monkeypatch):
    drawn = []
    load = synthetic_detail.load_image

    def spy(name):
        drawn.append(name)
        return load(name)

    monkeypatch.setattr(synthetic_detail, "load_image", spy)
    rng = np.random.default_rng(0)
    for _ in range(30):
        synthetic_detail.detail_slice(rng, synthetic_detail.VALIDATION_IMAGES)
    assert set(drawn) == set(synthetic_detail.VALIDATION_IMAGES)


def test_the_sampler_mixes_in_photographs_only_when_asked(monkeypatch):
    from mri_denoise_gui.ml.synthetic import TissueMaps

    maps = TissueMaps.load().slab(60, 120)
    calls = []
    make = synthetic_detail.detail_slice
    monkeypatch.setattr(synthetic_detail, "detail_slice", lambda rng, names: calls.append(names) or make(rng, names))

    def patches(share):
        sampler = mldata.SyntheticPatchSampler([maps], 96, rng=np.random.default_rng(3), patches_per_slice=1,
                                               detail_share=share)
        return [sampler.sample() for _ in range(20)]

    plain = patches(0.0)
    assert calls == []
    default = mldata.SyntheticPatchSampler([maps], 96, rng=np.random.default_rng(3), patches_per_slice=1)
    assert all(np.array_equal(p, default.sample()) for p in plain)  # the original stream, draw for draw
    mixed = patches(0.5)
    assert 4 <= len(calls) <= 16 and set(calls) == {synthetic_detail.TRAIN_IMAGES}
    assert all(p.shape == (96, 96) for p in mixed)


def test_detail_validation_set_is_added_and_the_share_is_validated(tmp_path):
    from mri_denoise_gui.ml.synthetic_sets import synthetic_training
    from mri_denoise_gui.ml.training_config import TrainingConfig

    config = TrainingConfig(out=str(tmp_path / "m"), synthetic=True, synthetic_detail=0.3, val_patches=6,
                            patch_size=32)
    assert config.validate() == {}
    _, noisy, clean, summary = synthetic_training(config)
    assert noisy.shape == clean.shape == (12, 32, 32, 1)
    assert summary["validation_sets"] == {"original": 6, "detail": 6}
    assert "moon" in summary["detail_domain"]
    bad = TrainingConfig(out=str(tmp_path / "m"), data=[str(tmp_path)], synthetic_detail=0.5)
    assert "synthetic_detail" in bad.validate()
    assert "synthetic_detail" in TrainingConfig(out="m", synthetic=True, synthetic_detail=2.0).validate()


def test_stage6_and_7_recipes_fine_tune_the_shipped_network(tmp_path):
    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        from train_shipped_models import FINE_TUNE_STAGES, RECIPES, recipe_config
    finally:
        sys.path.remove(str(ROOT / "packaging"))
    config = recipe_config("default-stage6", tmp_path / "stage6", init_from=ROOT / "resources/models/default")
    assert config.validate() == {}
    assert config.synthetic_detail > 0 and config.synthetic_coarse > 0
    assert RECIPES["default-stage6"]["arch_options"] == RECIPES["default-stage4"]["arch_options"]
    assert {"default-stage6", "default-stage7"} <= set(FINE_TUNE_STAGES)
    # stage 7 grows the same network by residual blocks: the recipe must differ from stage 4's
    # options only by them, or architectures.grow would refuse the shipped default
    grown = recipe_config("default-stage7", tmp_path / "stage7", init_from=ROOT / "resources/models/default")
    assert grown.validate() == {}
    options = dict(grown.arch_options)
    assert options.pop("mid_blocks") > 0 and options == RECIPES["default-stage4"]["arch_options"]
