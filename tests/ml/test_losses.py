import keras
import numpy as np

from mri_denoise_gui.ml import losses


def test_losses_and_metrics_behave():
    rng = np.random.default_rng(0)
    clean = rng.random((2, 32, 32, 1)).astype(np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    assert np.allclose(losses.ssim_loss(clean, clean), 0.0, atol=1e-5)
    assert float(np.mean(losses.ssim_loss(clean, noisy))) > 0.05
    assert float(np.mean(losses.ssim_l1_loss(clean, noisy))) > float(np.mean(losses.ssim_l1_loss(clean, clean)))
    assert 18 < float(np.mean(losses.psnr_metric(clean, noisy))) < 23  # sigma 0.1 -> ~20 dB
    assert float(np.mean(losses.ssim_metric(clean, clean))) > 0.999


def test_losses_are_registered_top_level_functions():
    for name in ("ssim_loss", "ssim_l1_loss", "l1_loss", "ssim_metric", "psnr_metric"):
        fn = keras.saving.get_registered_object(f"mri_denoise_gui>{name}")
        assert fn is getattr(losses, name)
        assert fn.__closure__ is None
