"""Reference-free quality figures (core.noref) on a small phantom with known noise."""

import json

import numpy as np
import pytest
from scipy import ndimage

from mri_denoise_gui.cli import main
from mri_denoise_gui.core import noref
from mri_denoise_gui.core.metrics import foreground_mask, psnr
from mri_denoise_gui.core.noise import add_noise
from mri_denoise_gui.core.normalize import Normalizer
from tests.conftest import phantom, write_nifti


def textured(shape=(64, 64, 8), seed=0):
    """The phantom with smooth texture inside, normalised to [0, 1]."""
    data = phantom(shape, seed=seed)
    rng = np.random.default_rng(seed + 1)
    texture = ndimage.gaussian_filter(rng.standard_normal(shape), (2, 2, 0)) * 400
    data = np.where(data > 0, data + texture, 0).astype(np.float32)
    return Normalizer().fit(data).forward(data)


@pytest.mark.parametrize("sigma", [0.03, 0.05, 0.07])
def test_sigma_estimate_is_close_to_the_added_rician_noise(sigma):
    clean = textured()
    noisy = add_noise(clean, "rician", sigma**2, seed=3)
    assert noref.estimate_sigma(noisy) == pytest.approx(sigma, rel=0.15)


def smoothers():
    return {w: (lambda stack, w=w: ndimage.gaussian_filter(stack, (0, w, w))) for w in (0.5, 1.0, 4.0)}


def test_reference_free_scores_rank_denoisers_like_the_true_psnr():
    clean = textured(seed=4)
    noisy = add_noise(clean, "rician", 0.05**2, seed=5)
    tissue = foreground_mask(clean)
    stack = np.moveaxis(noisy, 2, 0)
    sigma = noref.estimate_sigma(noisy)
    true, j, sure = {}, {}, {}
    for w, fn in smoothers().items():
        true[w] = psnr(clean, np.moveaxis(fn(stack), 0, 2), tissue)
        j[w] = noref.j_invariant_loss(noisy, fn, n_masks=None)["volume"]
        sure[w] = noref.sure_mse(noisy, fn, sigma)["volume"]
    by_true = sorted(true, key=true.get, reverse=True)
    assert sorted(j, key=j.get) == by_true
    assert sorted(sure, key=sure.get) == by_true
    assert len(set(by_true[:1]) | {4.0}) == 2  # the over-smoother is not the best: the test is not trivial


def test_residual_structure_grows_when_anatomy_is_smoothed_away():
    clean = textured(seed=6)
    noisy = add_noise(clean, "rician", 0.05**2, seed=7)
    stack = np.moveaxis(noisy, 2, 0)
    gentle, harsh = (np.moveaxis(ndimage.gaussian_filter(stack, (0, w, w)), 0, 2) for w in (0.7, 3.0))
    a, b = noref.residual_figures(noisy, gentle), noref.residual_figures(noisy, harsh)
    assert b["residual_structure"]["volume"] > a["residual_structure"]["volume"] + 0.1
    assert b["residual_ratio"]["volume"] > a["residual_ratio"]["volume"]


def test_report_has_per_slice_values_and_a_description_of_each_figure():
    noisy = add_noise(textured(shape=(48, 48, 5)), "rician", 0.04**2, seed=1)
    fn = smoothers()[1.0]
    report = noref.noref_report(noisy, denoise=fn)
    for key in ("sigma", "sigma_out", "residual_ratio", "residual_structure", "j_invariant_loss"):
        assert key in noref.DESCRIPTIONS
        assert len(report[key]["per_slice"]) == 5
        assert np.isfinite(report[key]["volume"])
    assert report["sigma_out"]["volume"] < report["sigma"]["volume"]


def test_empty_slices_have_no_figures_and_do_not_crash():
    noisy = add_noise(textured(shape=(40, 40, 4)), "gaussian", 0.03**2, seed=2)
    noisy[:, :, 0] = 0.0
    report = noref.noref_report(noisy, np.clip(noisy, 0, 1))
    assert np.isnan(report["sigma"]["per_slice"][0]) and np.isfinite(report["sigma"]["per_slice"][1])


def test_metrics_command_on_a_single_noisy_file(tmp_path, capsys):
    data = add_noise(textured(shape=(40, 40, 6)), "rician", 0.05**2, seed=1) * 1000
    noisy = write_nifti(tmp_path / "noisy.nii.gz", data)
    den = write_nifti(tmp_path / "den.nii.gz", ndimage.gaussian_filter(data, (1, 1, 0)))
    assert main(["metrics", str(noisy), "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert 0.02 < one["sigma"]["volume"] < 0.09 and "residual_structure" not in one
    assert main(["metrics", str(noisy), str(den), "--no-reference", "--axis", "2"]) == 0
    out = capsys.readouterr().out
    assert "residual_structure" in out and "no reference" in out
    assert len([line for line in out.splitlines() if line.strip().startswith(("0 ", "5 "))]) == 2
