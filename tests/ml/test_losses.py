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
    for name in ("ssim_loss", "ssim_l1_loss", "ssim_masked_loss", "ssim_masked_l1_loss", "l1_loss", "l1_tissue_loss",
                 "ssim_metric", "psnr_metric"):
        fn = keras.saving.get_registered_object(f"mri_denoise_gui>{name}")
        assert fn is getattr(losses, name)
        assert fn.__closure__ is None


def _head_on_background(rng):
    """A clean slice like the synthetic ones: a bright textured disc on an exactly-zero background
    (~80 % of the pixels), its noisy copy (Gaussian sigma 0.1, as the tutorial's localvar) and
    where the background is more than an SSIM window (11 px) away from the head."""
    yy, xx = np.mgrid[:64, :64]
    radius = np.sqrt((yy - 32) ** 2 + (xx - 32) ** 2)
    clean = np.where(radius < 16, 0.5 + 0.2 * rng.random((64, 64)), 0.0).astype(np.float32)[None, ..., None]
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    return clean, noisy, (radius > 16 + 11)[None, ..., None]


def test_masked_ssim_ignores_background_where_plain_ssim_rewards_black():
    """The seed's collapse: plain 1 - SSIM scores an all-black output better than the noisy input
    when most of the slice is background; the tissue-window SSIM must not."""
    clean, noisy, far = _head_on_background(np.random.default_rng(0))
    black = np.zeros_like(clean)
    assert float(losses.ssim_loss(clean, black)[0]) < float(losses.ssim_loss(clean, noisy)[0])
    assert float(losses.ssim_masked_loss(clean, black)[0]) > float(losses.ssim_masked_loss(clean, noisy)[0]) + 0.2
    assert abs(float(losses.ssim_masked_loss(clean, clean)[0])) < 1e-5
    # what happens far from the head barely counts: zeroing the noise there changes the plain loss
    # a lot and the masked one little
    quiet = np.where(far, 0, noisy).astype(np.float32)
    plain = float(losses.ssim_loss(clean, noisy)[0] - losses.ssim_loss(clean, quiet)[0])
    masked = float(losses.ssim_masked_loss(clean, noisy)[0] - losses.ssim_masked_loss(clean, quiet)[0])
    assert plain > 0.1 and abs(masked) < 0.03, (plain, masked)


def test_masked_ssim_is_tf_ssim_when_every_window_holds_tissue():
    rng = np.random.default_rng(1)
    clean = (0.3 + 0.7 * rng.random((2, 40, 40, 1))).astype(np.float32)  # all above the tissue level
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    assert np.allclose(losses.ssim_masked_loss(clean, noisy), losses.ssim_loss(clean, noisy), atol=1e-4)


def test_the_l1_term_holds_brightness_that_the_tissue_window_ssim_lets_go():
    """A 20 % darker head costs the tissue-window SSIM little; with the L1 term it costs several
    times more, relative to what the noise costs, and black still loses to the noisy input."""
    clean, noisy, _ = _head_on_background(np.random.default_rng(2))
    darker = (0.8 * clean).astype(np.float32)

    def relative_cost(loss):  # darkening's cost in units of the noise's cost
        base = float(loss(clean, clean)[0])
        return (float(loss(clean, darker)[0]) - base) / (float(loss(clean, noisy)[0]) - base)

    assert relative_cost(losses.ssim_masked_l1_loss) > 3 * relative_cost(losses.ssim_masked_loss)
    black = np.zeros_like(clean)
    assert float(losses.ssim_masked_l1_loss(clean, black)[0]) > float(losses.ssim_masked_l1_loss(clean, noisy)[0])
    assert abs(float(losses.ssim_masked_l1_loss(clean, clean)[0])) < 1e-5


def test_tissue_weighted_l1_counts_background_errors_at_a_fifth():
    """The same error costs five times as much on the head (and its 2 px border) as far from it."""
    clean, noisy, far = _head_on_background(np.random.default_rng(2))
    error = np.abs(noisy - clean)
    on_head_only = np.where(far, clean, noisy).astype(np.float32)  # the noise left only near the head
    off_head_only = np.where(far, noisy, clean).astype(np.float32)  # only far from it
    near = float(losses.l1_tissue_loss(clean, on_head_only)[0])
    away = float(losses.l1_tissue_loss(clean, off_head_only)[0])
    assert np.isclose(away, 0.2 * float(np.mean(np.where(far, error, 0))), rtol=1e-4)
    assert near > float(np.mean(np.where(far, 0, error))) * 0.2  # tissue and its border weigh 1
    # a 1 px error ring just outside the head's edge is tissue border (weight 1), 4 px out it is background
    yy, xx = np.mgrid[:64, :64]
    radius = np.sqrt((yy - 32) ** 2 + (xx - 32) ** 2)[None, ..., None]

    def ring(r0):
        return np.where((radius >= r0) & (radius < r0 + 1), clean + 0.1, clean).astype(np.float32)

    assert float(losses.l1_tissue_loss(clean, ring(16.5))[0]) > 3 * float(losses.l1_tissue_loss(clean, ring(20))[0])
    assert float(losses.l1_tissue_loss(clean, clean)[0]) == 0.0
