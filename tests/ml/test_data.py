import numpy as np
import pytest

from mri_denoise_gui.core.normalize import Normalizer
from mri_denoise_gui.ml import data as mldata


def test_split_is_by_volume_and_disjoint(volume_files):
    files = mldata.find_nifti_files([volume_files[0].parent])
    assert files == sorted(p.resolve() for p in volume_files)
    train, val, mode = mldata.split_by_volume(files, 0.3, seed=1)
    assert mode == "volume" and train and val
    assert not set(train) & set(val) and set(train) | set(val) == set(files)
    assert mldata.split_by_volume(files, 0.3, seed=1) == (train, val, mode)


def test_single_volume_is_split_by_slab_with_a_gap(volume_files):
    train, val, mode = mldata.load_regions(volume_files[:1], Normalizer(), val_fraction=0.25)
    assert mode == "slab"
    (a, b), (c, d) = train[0].z_range, val[0].z_range
    assert b <= c - 1 and d == 20 and a == 0  # a gap between the slabs
    assert train[0].data.shape[2] == b - a and val[0].data.shape[2] == d - c
    assert train[0].data.dtype == np.float16 and 0 <= float(train[0].data.min()) and float(train[0].data.max()) <= 1


def test_volume_index_picks_the_volume_of_4d_files_and_leaves_3d_files_alone(tmp_path):
    from tests.conftest import phantom, write_nifti

    first, second = phantom((24, 24, 16), seed=1), phantom((24, 24, 16), seed=2)[::-1].copy()
    series = write_nifti(tmp_path / "a_series.nii.gz", np.stack([first, second], axis=-1))
    plain = write_nifti(tmp_path / "b_plain.nii.gz", first)
    regions = {}
    for index in (0, 1):
        train, val, mode = mldata.load_regions([series, plain], Normalizer(), val_fraction=0.5, seed=0,
                                               volume_index=index)
        assert mode == "volume"
        regions[index] = {r.path: r.data for r in train + val}
    expected = Normalizer().fit(second).forward(second, clip=True)
    assert np.allclose(regions[1][str(series)].astype(np.float32), expected, atol=1e-3)
    assert not np.allclose(regions[0][str(series)].astype(np.float32), expected, atol=1e-3)
    assert np.array_equal(regions[0][str(plain)], regions[1][str(plain)])  # the 3D file: read as it is
    with pytest.raises(ValueError, match="out of range"):
        mldata.load_regions([series, plain], Normalizer(), val_fraction=0.5, volume_index=2)


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        mldata.find_nifti_files([tmp_path / "nope"])
    with pytest.raises(ValueError, match="no NIfTI"):
        mldata.find_nifti_files([tmp_path])


def test_patches_come_from_central_slices(volume_files):
    train, _, _ = mldata.load_regions(volume_files, Normalizer(), val_fraction=0.34)
    sampler = mldata.VolumePatchSampler(train, patch=16, axes=(0, 1, 2), central_fraction=0.5,
                                        rng=np.random.default_rng(0))
    patches = np.stack([sampler.sample() for _ in range(20)])
    assert patches.shape == (20, 16, 16) and patches.dtype == np.float32
    assert list(mldata.central_indices(20, 0.5)) == list(range(5, 15))


def test_tf_noise_matches_core_definitions():
    import tensorflow as tf

    clean = tf.fill((64, 32, 32, 1), 0.5)
    for kind in ("gaussian", "rician", "rician+gaussian"):
        noisy = mldata.tf_add_noise(clean, kind, (0.0025, 0.0025)).numpy()
        assert abs(noisy.std() - 0.05) < 0.005, kind
        assert noisy.min() >= 0 and noisy.max() <= 1
    # Rician on a zero background is Rayleigh: mean sigma * sqrt(pi / 2)
    dark = mldata.tf_add_noise(tf.zeros((64, 32, 32, 1)), "rician", (0.0025, 0.0025)).numpy()
    assert abs(dark.mean() - 0.05 * np.sqrt(np.pi / 2)) < 0.003


def test_pipeline_yields_noisy_clean_batches(volume_files):
    train, _, _ = mldata.load_regions(volume_files, Normalizer(), val_fraction=0.34)

    def factory(seed):
        return mldata.VolumePatchSampler(train, 16, rng=np.random.default_rng(seed))

    ds = mldata.training_dataset(factory, 16, 4, "rician", (1e-4, 1e-2), seed=0, shuffle_buffer=8)
    noisy, clean = next(iter(ds))
    assert noisy.shape == clean.shape == (4, 16, 16, 1)
    assert float(np.abs(noisy.numpy() - clean.numpy()).mean()) > 0


def test_inverse_sigma_weights_favour_the_quieter_patches(volume_files):
    train, _, _ = mldata.load_regions(volume_files, Normalizer(), val_fraction=0.34)

    def factory(seed):
        return mldata.VolumePatchSampler(train, 32, rng=np.random.default_rng(seed))

    ds = mldata.training_dataset(factory, 32, 16, "gaussian", (1e-4, 1e-2), seed=0, shuffle_buffer=8,
                                 weighting="inverse_sigma")
    noisy, clean, weight = (t.numpy() for t in next(iter(ds)))
    assert weight.shape == (16,) and np.all(weight > 0)
    # weight = mid sigma / sigma: the weight times the patch's noise level is the same for every patch
    residual = (noisy - clean).reshape(16, -1)
    unclipped = (clean.reshape(16, -1) > 0.2) & (clean.reshape(16, -1) < 0.8)
    sigma = np.array([r[m].std() for r, m in zip(residual, unclipped)])
    assert np.corrcoef(weight, 1 / sigma)[0, 1] > 0.95
    assert abs(np.median(weight * sigma) - 0.055) < 0.0055


def test_sharpened_tissue_maps_keep_the_partition_and_steepen_borders():
    from mri_denoise_gui.ml.synthetic import TissueMaps, _sharpen

    maps = TissueMaps.load().slab(60, 120)
    s = maps.slice2d(2, 30)
    gm, wm, csf = _sharpen(np.random.default_rng(0), s)
    total = np.clip(s["gm"] + s["wm"] + s["csf"], 0, 1)
    assert np.allclose(gm + wm + csf, total, atol=1e-4)
    inside = s["brain"]
    # fewer voxels are mixtures: the maps move towards 0 or 1
    def mixed(p):
        return float(((p > 0.2) & (p < 0.8) & inside).mean())
    assert mixed(gm) < 0.8 * mixed(s["gm"]) and mixed(wm) < 0.8 * mixed(s["wm"])


def test_ring_structures_are_thin_flat_bands():
    from scipy import ndimage

    from mri_denoise_gui.ml.synthetic import _ellipses

    rng = np.random.default_rng(3)
    bands = [_ellipses(rng, (160, 160), 1, ring=True) for _ in range(5)]
    bands = [b for b in bands if b.any()]
    assert bands
    for rings in bands:
        assert len(np.unique(rings[rings > 0])) == 1  # flat
        assert ndimage.distance_transform_edt(rings > 0).max() <= 5  # at most ~8 px across
    filled = _ellipses(np.random.default_rng(3), (160, 160), 1)
    assert ndimage.distance_transform_edt(filled > 0).max() >= 3  # the same draw, filled, is thick


def test_synthetic_slices_are_normalised_and_varied():
    from mri_denoise_gui.ml.synthetic import TissueMaps, synth_slice

    maps = TissueMaps.load().slab(60, 120)  # nilearn is in the test extra
    rng = np.random.default_rng(0)
    slices = [synth_slice(maps, rng) for _ in range(12)]
    assert all(s.dtype == np.float32 and s.min() >= 0 and s.max() <= 1 for s in slices)
    assert len({s.shape for s in slices}) > 6  # resolutions vary


class _Background(np.random.Generator):
    """A generator that always picks the given background kind (everything else stays random)."""

    def __init__(self, seed, kind):
        super().__init__(np.random.PCG64(seed))
        self.kind = kind

    def choice(self, a, *args, **kwargs):
        if isinstance(a, list) and self.kind in a:
            return self.kind
        return super().choice(a, *args, **kwargs)


def test_synthetic_flat_layer_stays_dim_not_zero_and_some_slices_keep_the_1mm_grid():
    from mri_denoise_gui.ml.synthetic import TissueMaps, synth_slice

    maps = TissueMaps.load().slab(60, 120)

    def dim_fraction(kind):
        slices = [synth_slice(maps, _Background(seed, kind), contrast="t1") for seed in range(8)]
        return np.mean([((s > 0.02) & (s < 0.4)).mean() for s in slices])

    # the dim layer around the brain survives the robust normalisation (not mapped to 0)
    assert dim_fraction("flat") > dim_fraction("zero") + 0.1

    grid = {maps.slice2d(axis, 0)["t1"].shape for axis in range(3)}
    grid |= {shape[::-1] for shape in grid}
    rng = np.random.default_rng(1)
    shapes = [synth_slice(maps, rng).shape for _ in range(24)]
    assert 2 <= sum(shape in grid for shape in shapes) <= 14  # ~a quarter untouched, the rest resampled


def test_a_stack_of_slices_is_cut_and_padded_at_the_same_place_as_one_slice():
    """random_patch on (C, H, W) (the 2.5D probe's neighbour stacks) crops every slice alike, with
    the draws a single slice would use; smaller slices are zero-padded."""
    image = np.random.default_rng(0).random((50, 70)).astype(np.float32)
    for patch in (32, 96):
        one = mldata.random_patch(image, patch, np.random.default_rng(3))
        stack = mldata.random_patch(np.stack([image, 2 * image]), patch, np.random.default_rng(3))
        assert stack.shape == (2, patch, patch)
        np.testing.assert_array_equal(stack[0], one)
        np.testing.assert_array_equal(stack[1], 2 * one)
    assert (mldata.random_patch(image, 96, np.random.default_rng(1)) == 0).mean() > 0.5  # padded
