"""The slab-wise whole-volume metrics equal core.metrics.volume_metrics."""

import numpy as np
import pytest

from mri_denoise_gui.core import metrics as core
from mri_denoise_gui.qt.volume_metrics import volume_metrics
from tests.conftest import phantom


@pytest.mark.parametrize("use_mask", [False, True])
def test_slabs_give_the_same_numbers_as_core(use_mask):
    ref = phantom((30, 26, 22), seed=4)
    ref = (ref - ref.min()) / (ref.max() - ref.min())
    test = np.clip(ref + np.random.default_rng(0).normal(0, 0.05, ref.shape), 0, 1).astype(np.float32)
    mask = core.foreground_mask(ref) if use_mask else None
    expected = core.volume_metrics(ref, test, mask)
    got = volume_metrics(ref, test, mask, slab=5, min_voxels=0)
    for key in ("ssim", "psnr", "nrmse"):
        assert got[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-12), key
