"""viewer.comparison: classical slices, error map, ROI pixels and statistics, profiles, typed noise."""

from __future__ import annotations

import numpy as np
import pytest

from mri_denoise_gui.core import baselines
from mri_denoise_gui.viewer.comparison import (
    classical_methods,
    classical_slice,
    classical_volume,
    error_map,
    line_profile,
    method_label,
    parse_noise_level,
    roi_mask,
    roi_stats,
)


def _image(seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(0.5 + 0.1 * rng.standard_normal((24, 30)), 0, 1).astype(np.float32)


def test_classical_slice_is_core_baselines_on_that_slice():
    image = _image()
    np.testing.assert_array_equal(classical_slice("nlm", image), baselines.nlm_denoise(image))
    np.testing.assert_array_equal(classical_slice("wavelet", image), baselines.wavelet_denoise(image))
    assert ("bm3d" in classical_methods()) == baselines.bm3d_available()
    with pytest.raises(ValueError, match="unknown classical method"):
        classical_slice("median", image)


def test_classical_volume_runs_along_the_given_axis():
    volume = np.stack([_image(s) for s in range(3)], axis=1)  # (24, 3, 30)
    out = classical_volume("tv", volume, axis=1)
    np.testing.assert_array_equal(out, baselines.tv_denoise(volume, axis=1))


def test_error_map_and_roi_stats():
    a, b = _image(0), _image(1)
    np.testing.assert_array_equal(error_map(a, b), np.abs(a - b))
    stats = roi_stats(a[2:5, 3:9])
    assert stats["mean"] == float(a[2:5, 3:9].astype(np.float64).mean()) and stats["n"] == 18
    assert stats["snr"] == pytest.approx(stats["mean"] / stats["sd"])
    assert roi_stats(np.array([]))["n"] == 0


def test_roi_mask_takes_pixel_centres_in_millimetres():
    mask = roi_mask((10, 12), (2.0, 1.0), "rect", pos=(3.0, 4.0), size=(4.0, 6.0))  # x = col mm, y = row mm
    rows, cols = np.nonzero(mask)
    assert set(rows) == {2, 3, 4} and set(cols) == {3, 4, 5, 6}
    ellipse = roi_mask((20, 20), (1.0, 1.0), "ellipse", pos=(5.0, 5.0), size=(10.0, 10.0))
    assert ellipse[10, 10] and not ellipse[5, 5] and 60 < ellipse.sum() < 100


def test_line_profile_has_the_line_length():
    image = _image()
    np.testing.assert_array_equal(line_profile(image, (3, 2), (3, 12)), image[3, 2:13])
    assert len(line_profile(image, (0, 0), (6, 8))) == 11  # a 3-4-5 triangle: length 10


def test_typed_noise_level():
    assert parse_noise_level("5%") == pytest.approx(0.0025)
    assert parse_noise_level("σ 0.1") == pytest.approx(0.01)
    assert parse_noise_level("sigma=0.2") == pytest.approx(0.04)
    assert parse_noise_level("var 0.003") == pytest.approx(0.003)
    assert parse_noise_level("0.004") == pytest.approx(0.004)
    with pytest.raises(ValueError, match="cannot read noise level"):
        parse_noise_level("loud")


def test_method_labels():
    assert method_label("nlm") == "NLM (estimated σ)" and method_label("nlm", short=True) == "NLM"
    assert method_label("model:/a/b/seed/") == "Model seed" and method_label("model:/a/seed", short=True) == "seed"
