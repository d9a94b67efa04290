"""The coarse / thick-slice synthetic domain (ml/synthetic_coarse.py), the low-noise share and
the fine-tune recipe that uses them (issue 14)."""

import sys
from pathlib import Path

import numpy as np
import pytest

from mri_denoise_gui.ml import data as mldata

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def maps():
    from mri_denoise_gui.ml.synthetic import TissueMaps

    return TissueMaps.load().slab(60, 120)  # nilearn is in the test extra


def test_coarse_slices_are_normalised_small_and_deterministic(maps):
    from mri_denoise_gui.ml.synthetic import synth_slice
    from mri_denoise_gui.ml.synthetic_coarse import coarse_slice

    slices = [coarse_slice(maps, np.random.default_rng(seed)) for seed in range(10)]
    assert all(s.ndim == 2 and s.dtype == np.float32 and s.min() >= 0 and s.max() <= 1 for s in slices)
    assert all(s.max() > 0.3 for s in slices)  # not blank
    again = coarse_slice(maps, np.random.default_rng(3))
    assert np.array_equal(again, slices[3])
    # coarser grids: 1.5-5 mm voxels and small fields of view give far fewer pixels than synth_slice's
    rng = np.random.default_rng(0)
    fine = np.median([synth_slice(maps, rng).size for _ in range(10)])
    coarse = np.median([s.size for s in slices])
    assert coarse < 0.3 * fine
    assert max(max(s.shape) for s in slices) <= 160  # the 1 mm template is ~190-230 across


def test_thick_maps_average_neighbouring_slices(maps):
    from mri_denoise_gui.ml.synthetic_coarse import thick_maps

    one = thick_maps(maps, 2, 30, 1)
    assert np.array_equal(one.slice2d(2, 0)["gm"], maps.slice2d(2, 30)["gm"])
    five = thick_maps(maps, 2, 30, 5)
    expected = maps.gm[:, :, 28:33].mean(axis=2)
    assert np.allclose(five.slice2d(2, 0)["gm"], expected, atol=1e-6)
    edge = thick_maps(maps, 0, 0, 6)  # clipped to the volume, still 6 slices
    assert np.allclose(edge.slice2d(0, 0)["wm"], maps.wm[:6].mean(axis=0), atol=1e-6)


def test_downsampling_has_partial_volume_and_kspace_truncation_rings():
    from mri_denoise_gui.ml.synthetic_coarse import box_downsample, kspace_downsample

    line = np.zeros((120, 120), np.float32)
    line[:, 60] = 1.0  # a structure one 1 mm voxel wide
    coarse = box_downsample(line, (4.0, 4.0), np.random.default_rng(0))
    assert coarse.shape == (30, 30)
    assert 0.1 < coarse.max() < 0.4  # shared with its neighbours: about a quarter of a 4 mm voxel

    flat = np.full((128, 128), 0.5, np.float32)
    assert np.allclose(kspace_downsample(flat, (2.0, 2.0)), 0.5, atol=1e-5)  # scale kept
    step = np.zeros((128, 128), np.float32)
    step[:, 40:90] = 1.0
    rung = kspace_downsample(step, (4.0, 4.0))
    assert rung.shape == (32, 32)
    assert rung.max() > 1.03  # Gibbs overshoot at the edges


def test_sampler_mixes_in_coarse_slices_only_when_asked(maps):
    def sizes(share, seed=5):
        sampler = mldata.SyntheticPatchSampler([maps], 96, rng=np.random.default_rng(seed), patches_per_slice=1,
                                               coarse_share=share)
        patches = [sampler.sample() for _ in range(12)]
        assert all(p.shape == (96, 96) for p in patches)
        return [int((p > 0).sum()) for p in patches], patches

    plain, a = sizes(0.0)
    again, b = sizes(0.0)
    assert plain == again and all(np.array_equal(x, y) for x, y in zip(a, b))
    coarse, _ = sizes(1.0)
    assert np.median(coarse) < np.median(plain)  # small matrices padded with zeros into the patch


def test_low_noise_share_draws_that_share_at_sigma_1_to_3_percent():
    sigma = mldata.tf_sample_sigma(4000, (1e-4, 1e-2), low_share=1.0).numpy().ravel()
    assert sigma.min() >= 0.01 and sigma.max() <= 0.03
    plain = mldata.tf_sample_sigma(4000, (1e-4, 1e-2)).numpy().ravel()
    mixed = mldata.tf_sample_sigma(4000, (1e-4, 1e-2), low_share=0.5).numpy().ravel()
    low_plain, low_mixed = (plain <= 0.03).mean(), (mixed <= 0.03).mean()
    assert abs(low_plain - 2 / 9) < 0.04
    assert abs(low_mixed - (0.5 + 0.5 * 2 / 9)) < 0.04
    assert mixed.max() > 0.09  # the rest still reaches 10 %


def test_new_shares_are_validated(tmp_path):
    from mri_denoise_gui.ml.training_config import TrainingConfig

    ok = TrainingConfig(out=str(tmp_path / "m"), synthetic=True, synthetic_coarse=0.4, low_noise_share=0.3)
    assert ok.validate() == {}
    bad = TrainingConfig(out=str(tmp_path / "m"), synthetic=True, synthetic_coarse=1.5, low_noise_share=-0.1)
    assert set(bad.validate()) == {"synthetic_coarse", "low_noise_share"}
    files = TrainingConfig(out=str(tmp_path / "m"), data=[str(tmp_path)], synthetic_coarse=0.5)
    assert "synthetic_coarse" in files.validate()
    assert TrainingConfig.from_json(ok.to_json()) == ok


def test_stage5_recipe_validates_and_fine_tunes_the_shipped_default(tmp_path):
    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        from train_shipped_models import RECIPES, recipe_config
    finally:
        sys.path.remove(str(ROOT / "packaging"))
    default = ROOT / "resources" / "models" / "default"
    config = recipe_config("default-stage5", tmp_path / "stage5", init_from=default)
    assert config.validate() == {}
    assert config.synthetic_coarse > 0 and config.low_noise_share > 0 and config.init_from == str(default)
    assert RECIPES["default-stage5"]["arch_options"] == RECIPES["default-stage4"]["arch_options"]


def test_coarse_validation_set_is_its_own_fixed_set():
    from mri_denoise_gui.ml.synthetic_sets import synthetic_validation_pairs
    from mri_denoise_gui.ml.training_config import TrainingConfig

    config = TrainingConfig(out="unused", synthetic=True, patch_size=64, val_patches=6, seed=3)
    noisy, clean = synthetic_validation_pairs(config, "coarse")
    assert noisy.shape == clean.shape == (6, 64, 64, 1)
    again = synthetic_validation_pairs(config, "coarse")
    assert np.array_equal(again[1], clean) and np.array_equal(again[0], noisy)
    original = synthetic_validation_pairs(config)[1]
    assert (clean > 0).mean() < (original > 0).mean()  # small coarse slices padded into the patch


def test_stage5_publish_tells_all_five_stages_and_keeps_the_earlier_logs(tiny_model_dir, tmp_path):
    import json
    import shutil

    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        from train_shipped_models import publish_stage
    finally:
        sys.path.remove(str(ROOT / "packaging"))
    base, stage = tmp_path / "base", tmp_path / "stage5"
    shutil.copytree(tiny_model_dir, base)
    shutil.copytree(tiny_model_dir, stage)
    meta = json.loads((base / "model.json").read_text())
    stages = [{"stage": n, "epochs": 10, "seconds": 100.0} for n in range(1, 5)]
    (base / "model.json").write_text(json.dumps({**meta, "training_stages": stages, "training_seconds": 400.0,
                                                 "epochs_run": 40}))
    (base / "training_log_stage4.csv").write_text("epoch,loss\n0,1\n")
    (stage / "training_log.csv").write_text("epoch,loss\n0,0.5\n")
    (stage / "model.json").write_text(json.dumps({
        **meta, "architecture_options": {**meta["architecture_options"], "mid_blocks": 0},  # as grown
        "training_seconds": 50.0, "epochs_run": 3, "fine_tuned_from": str(base),
        "validation": {"psnr": 33.0, "ssim": 0.9}, "config": {"epochs": 15, "out": str(stage)}}))
    scores = tmp_path / "scores.json"
    scores.write_text(json.dumps({"noisy input": {}, str(base): {"original": {"psnr": 1.0}},
                                  str(stage): {"original": {"psnr": 2.0}}}))
    out = tmp_path / "default"
    publish_stage("default-stage5", base, stage, out, scores)
    published = json.loads((out / "model.json").read_text())
    assert [s["stage"] for s in published["training_stages"]] == [1, 2, 3, 4, 5]
    assert published["training_stages"][-1]["planned_epochs"] == 15
    assert published["training_stages"][-1]["recipe"] == "default-stage5"
    assert published["training_stages"][-1]["architecture_grown"] == {"mid_blocks": 0}
    assert published["epochs_run"] == 43 and published["training_seconds"] == 450.0
    assert published["fine_tuned_from"] is None and published["name"] == "default"
    assert published["validation"]["by_set"] == {"original": {"psnr": 2.0}}
    assert published["validation"]["by_set_before_stage5"] == {"original": {"psnr": 1.0}}
    assert (out / "training_log_stage4.csv").is_file() and (out / "training_log_stage5.csv").is_file()
    assert not (out / "training_log.csv").exists() and (out / "model.tflite").is_file()
