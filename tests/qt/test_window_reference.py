"""Attaching a reference to a denoised real scan: the whole-volume figures follow the new reference."""

from __future__ import annotations

import json

import numpy as np

from tests.conftest import phantom, write_nifti
from tests.qt.conftest import open_and_wait


def test_attaching_another_reference_recomputes_the_whole_volume_metrics(qtbot, model_window, tmp_path):
    w = model_window
    affine = np.diag([1.0, 1.2, 2.0, 1.0])
    truth = phantom((32, 40, 24))
    noisy = truth + np.random.default_rng(3).normal(0, 0.05 * truth.max(), truth.shape)
    scan = write_nifti(tmp_path / "scan.nii.gz", noisy, affine=affine)
    first = write_nifti(tmp_path / "ref1.nii.gz", truth, affine=affine)
    second = write_nifti(tmp_path / "ref2.nii.gz", np.roll(truth, 4, axis=1), affine=affine)
    open_and_wait(qtbot, w, scan, as_noisy=True)
    assert w.attach_reference(first)
    with qtbot.waitSignal(w.volumeMetricsReady, timeout=120_000) as blocker:
        assert w.denoise_volume()
    old = blocker.args[0]
    old_text = w.metrics_panel.volume_label.text()

    with qtbot.waitSignal(w.volumeMetricsReady, timeout=60_000) as blocker:
        assert w.attach_reference(second)
        assert w.data.volume_metrics is None  # stale at once: never the old reference's figures
    new = blocker.args[0]
    assert new["noisy"]["ssim"] != old["noisy"]["ssim"]
    assert w.data.volume_metrics is new and w.metrics_panel.volume_label.text() != old_text

    out = tmp_path / "scan_denoised.nii.gz"
    with qtbot.waitSignal(w.exportFinished, timeout=60_000):
        assert w.export_volume("denoised", out)
    side = json.loads(out.with_name("scan_denoised.json").read_text())
    assert side["reference"].endswith("ref2.nii.gz")
    assert side["metrics"]["noisy"]["ssim"] == new["noisy"]["ssim"]
