"""The viewer session without Qt: what each change invalidates, and the computations on it."""

from __future__ import annotations

import numpy as np
import pytest

from mri_denoise_gui.core.volume import load_volume
from mri_denoise_gui.viewer.compute import make_noisy_volume, score_slice, score_volume, volume_metrics_text
from mri_denoise_gui.viewer.export import build_sidecar
from mri_denoise_gui.viewer.session import ViewerSession
from mri_denoise_gui.viewer.state import NoiseSettings, prepare_viewer_data
from tests.conftest import phantom, write_nifti


@pytest.fixture
def clean_session(tmp_path):
    """A session on a clean 24 x 28 x 12 volume with noise added and a fake whole-volume result."""
    path = write_nifti(tmp_path / "clean.nii.gz", phantom((24, 28, 12)))
    session = ViewerSession()
    session.set_volume(prepare_viewer_data(load_volume(path), as_noisy=False))
    settings = NoiseSettings("gaussian", 0.01, 3)
    session.set_noisy(make_noisy_volume(session.data.truth01, settings), settings)
    return session


def _denoise_and_score(session):
    """Stand-in for the inference worker: a smoothed noisy volume as the denoised result."""
    den = 0.5 * (session.data.noisy01 + session.data.truth01)
    assert session.set_denoised_volume(den, session.tokens(), 2)
    assert session.set_volume_metrics(score_volume(session.data, use_mask=False), session.generation)


def _record(signal):
    seen = []
    signal.connect(lambda *args: seen.append(args))
    return seen


def test_new_noise_drops_denoised_volume_slices_and_scores(clean_session):
    s = clean_session
    _denoise_and_score(s)
    s.cache.put(s.slice_key(), np.zeros((4, 4), np.float32))
    s.noisy_scores[s.noisy_key(False)] = {"ssim": 0.5, "psnr": 20.0}
    token = s.noise_token
    stale = _record(s.volume_metrics_changed)
    settings = NoiseSettings("rician", 0.02, 4)
    s.set_noisy(make_noisy_volume(s.data.truth01, settings), settings)
    assert s.noise_token == token + 1 and s.noise == settings
    assert not s.volume_is_denoised() and s.data.denoised01 is None and s.data.volume_metrics is None
    assert len(s.cache) == 0 and not s.noisy_scores
    assert stale == [(None,)]


def test_new_model_drops_denoised_results_but_keeps_noisy_scores(clean_session):
    s = clean_session
    _denoise_and_score(s)
    s.noisy_scores[s.noisy_key(False)] = {"ssim": 0.5, "psnr": 20.0}
    models = _record(s.model_changed)
    s.set_model({"name": "tiny", "folder": "/m"})
    assert models == [({"name": "tiny", "folder": "/m"},)]
    assert s.data.denoised01 is None and s.data.volume_metrics is None
    assert s.noisy_scores  # same noisy volume, same truth: still right


def test_a_result_for_an_older_noise_is_refused(clean_session):
    s = clean_session
    old = s.tokens()
    settings = NoiseSettings("gaussian", 0.02, 9)
    s.set_noisy(make_noisy_volume(s.data.truth01, settings), settings)
    assert not s.set_denoised_volume(s.data.noisy01.copy(), old, 2)
    assert s.data.denoised01 is None


def test_attaching_a_reference_invalidates_the_whole_volume_metrics(tmp_path):
    """The bug of issue 13: the panel and the export sidecar kept the old reference's figures."""
    truth = phantom((24, 28, 12))
    noisy = truth + np.random.default_rng(0).normal(0, 0.05 * truth.max(), truth.shape)
    scan = write_nifti(tmp_path / "scan.nii.gz", noisy)
    first = write_nifti(tmp_path / "ref1.nii.gz", truth)
    second = write_nifti(tmp_path / "ref2.nii.gz", np.roll(truth, 3, axis=0))
    s = ViewerSession()
    s.set_volume(prepare_viewer_data(load_volume(scan), as_noisy=True))
    s.attach_reference(load_volume(first))
    _denoise_and_score(s)
    old_metrics = s.data.volume_metrics
    s.noisy_scores[s.noisy_key(False)] = old_metrics["noisy"]
    stale = _record(s.volume_metrics_changed)
    generation = s.generation

    s.attach_reference(load_volume(second))

    assert stale == [(None,)]
    assert s.data.volume_metrics is None and not s.noisy_scores
    assert "metrics" not in build_sidecar(s.data, "denoised", s.noise, None, s.denoised_axis)
    assert s.volume_is_denoised()  # the denoised scan itself is still right: only the scores were stale
    assert not s.set_volume_metrics(old_metrics, generation)  # begun before the new reference: dropped
    assert s.data.volume_metrics is None
    s.set_volume_metrics(score_volume(s.data, use_mask=False), s.generation)
    assert s.data.volume_metrics["noisy"]["ssim"] != pytest.approx(old_metrics["noisy"]["ssim"])


def test_reference_on_another_grid_is_refused_and_changes_nothing(tmp_path):
    scan = write_nifti(tmp_path / "scan.nii.gz", phantom((24, 28, 12)))
    other = write_nifti(tmp_path / "other.nii.gz", phantom((24, 28, 10)))
    s = ViewerSession()
    s.set_volume(prepare_viewer_data(load_volume(scan), as_noisy=True))
    with pytest.raises(ValueError, match="share a grid"):
        s.attach_reference(load_volume(other))
    assert s.data.truth01 is None and s.data.reference is None


def test_scores_improve_when_the_image_is_closer_to_the_truth(clean_session):
    s = clean_session
    _denoise_and_score(s)
    result = s.data.volume_metrics
    assert result["denoised"]["psnr"] > result["noisy"]["psnr"]
    assert "Whole volume:" in volume_metrics_text(result)
    truth, noisy = s.data.truth01[:, :, 6], s.data.noisy01[:, :, 6]
    scores = score_slice(truth, noisy, 0.5 * (noisy + truth))
    assert scores["denoised"]["ssim"] > scores["noisy"]["ssim"] and scores["mask"] is False
    reused = score_slice(truth, noisy, None, noisy_scores={"ssim": -1.0, "psnr": 0.0})
    assert reused["noisy"]["ssim"] == -1.0 and reused["denoised"] is None
