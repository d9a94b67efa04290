import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from mri_denoise_gui.core import baselines
from mri_denoise_gui.core.metrics import foreground_mask, nrmse, psnr, slice_metrics, ssim, volume_metrics
from mri_denoise_gui.core.noise import add_noise
from mri_denoise_gui.core.orientation import SliceGeometry
from tests.conftest import phantom


def _pair():
    clean = phantom((32, 32, 16)) / 1200.0
    noisy = add_noise(np.clip(clean, 0, 1), "gaussian", 0.004, seed=0)
    return clean.astype(np.float32), noisy


def test_metrics_match_scikit_image_with_unit_data_range():
    clean, noisy = _pair()
    assert psnr(clean, noisy) == pytest.approx(peak_signal_noise_ratio(clean, noisy, data_range=1.0))
    assert ssim(clean, noisy) == pytest.approx(structural_similarity(clean, noisy, data_range=1.0))
    assert 0 < nrmse(clean, noisy) < 1


def test_identical_inputs_give_inf_psnr_without_warnings(recwarn):
    clean, _ = _pair()
    scores = volume_metrics(clean, clean)
    assert math.isinf(scores["psnr"]) and scores["ssim"] == pytest.approx(1.0) and scores["nrmse"] == 0
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_mask_restricts_the_score_to_tissue():
    clean, noisy = _pair()
    blanked = noisy.copy()
    mask = foreground_mask(clean)
    assert 0.1 < mask.mean() < 0.9
    blanked[~mask] = 0  # perfect background, untouched tissue
    assert psnr(clean, blanked) > psnr(clean, noisy)
    assert psnr(clean, blanked, mask) == pytest.approx(psnr(clean, noisy, mask))


def test_slice_metrics_per_axis():
    clean, noisy = _pair()
    per = slice_metrics(clean, noisy, axis=2)
    assert len(per["psnr"]) == 16
    assert per["psnr"][3] == pytest.approx(psnr(clean[:, :, 3], noisy[:, :, 3]))
    assert len(slice_metrics(clean, noisy, axis=0)["ssim"]) == 32


def test_thin_volumes_and_constant_references_do_not_crash():
    thin = np.random.default_rng(0).random((20, 20, 1)).astype(np.float32)
    assert 0 < ssim(thin, thin * 0.9) < 1
    assert foreground_mask(np.zeros((5, 5))).all()


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(np.zeros((3, 3)), np.zeros((3, 4)))


@pytest.mark.parametrize(
    "affine",
    [
        np.diag([1.0, 1.0, 1.0, 1]),  # RAS
        np.diag([-1.0, 1.0, 1.0, 1]),  # LAS (radiological storage)
        np.array([[0, 0, -2.0, 0], [1.0, 0, 0, 0], [0, -1.5, 0, 0], [0, 0, 0, 1]]),  # permuted + flipped
    ],
)
def test_display_is_canonical_whatever_the_storage_order(affine):
    shape = (6, 7, 8)
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    for axis in ("axial", "coronal", "sagittal"):
        geom = SliceGeometry(shape, affine, axis)
        for index in (0, geom.n_slices - 1):
            image = geom.extract(data, index)
            assert image.shape == geom.image_shape
            rows, cols = image.shape
            # every screen pixel maps back to the voxel it shows
            for r, c in [(0, 0), (rows - 1, 0), (0, cols - 1), (rows // 2, cols // 2)]:
                assert image[r, c] == data[geom.voxel(index, r, c)]
            # moving right on screen goes toward the patient's left / posterior; down goes I / P
            x0, x1 = geom.world(index, 0, 0), geom.world(index, 0, cols - 1)
            y1 = geom.world(index, rows - 1, 0)
            through = {"axial": 2, "coronal": 1, "sagittal": 0}[axis]
            col_ras = {"axial": 0, "coronal": 0, "sagittal": 1}[axis]
            row_ras = {"axial": 1, "coronal": 2, "sagittal": 2}[axis]
            assert x1[col_ras] < x0[col_ras]
            assert y1[row_ras] < x0[row_ras]
        first, last = geom.world(0, 0, 0), geom.world(geom.n_slices - 1, 0, 0)
        assert last[through] > first[through]  # slice index runs I->S, P->A, L->R


def test_labels_spacing_and_insert():
    affine = np.diag([0.5, 2.0, 3.0, 1])
    geom = SliceGeometry((4, 5, 6), affine, "coronal")
    assert geom.labels == {"top": "S", "bottom": "I", "left": "R", "right": "L"}
    assert geom.pixel_size == (3.0, 0.5)
    vol = np.zeros((4, 5, 6), np.float32)
    geom.insert(vol, 2, np.ones(geom.image_shape))
    assert vol[:, geom.file_index(2), :].all() and vol.sum() == 24
    assert geom.index_for_voxel(geom.voxel(3, 1, 1)) == 3
    with pytest.raises(ValueError, match="axial"):
        SliceGeometry((4, 5, 6), affine, "oblique")


@pytest.mark.parametrize("name", ["nlm", "wavelet", "tv"])
def test_baselines_improve_psnr(name):
    clean, noisy = _pair()
    clean = np.clip(clean, 0, 1)
    out = baselines.BASELINES[name](noisy, axis=2)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert psnr(clean, out) > psnr(clean, noisy) + 2


def test_nlm_3d_mode():
    clean, noisy = _pair()
    out = baselines.nlm_denoise(noisy, mode="3d")
    assert psnr(np.clip(clean, 0, 1), out) > psnr(np.clip(clean, 0, 1), noisy)


@pytest.mark.parametrize("use_mask", [False, True])
def test_slab_wise_volume_metrics_give_the_same_numbers(use_mask):
    """Large volumes are scored in slabs (bounded memory); the numbers must not change."""
    ref = phantom((30, 26, 22), seed=4)
    ref = (ref - ref.min()) / (ref.max() - ref.min())
    test = np.clip(ref + np.random.default_rng(0).normal(0, 0.05, ref.shape), 0, 1).astype(np.float32)
    mask = foreground_mask(ref) if use_mask else None
    whole = volume_metrics(ref, test, mask, min_voxels=ref.size + 1)
    slabs = volume_metrics(ref, test, mask, slab=5, min_voxels=0)
    for key in ("ssim", "psnr", "nrmse"):
        assert slabs[key] == pytest.approx(whole[key], rel=1e-9, abs=1e-12), key
