import subprocess
import sys

import numpy as np
import pytest

from mri_denoise_gui.ml import architectures
from mri_denoise_gui.ml.architectures import build


def test_importing_ml_does_not_import_tensorflow():
    code = ("import sys, mri_denoise_gui.ml, mri_denoise_gui.ml.errors, mri_denoise_gui.ml.modelfile, "
            "mri_denoise_gui.cli_ml; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_seed_autoencoder_is_the_tutorial_network():
    model = build("seed-autoencoder", input_size=256)
    assert model.count_params() == 872_709
    kinds = [type(layer).__name__ for layer in model.layers[1:]]
    block = ["LeakyReLU", "Dropout", "BatchNormalization"]
    assert kinds == (["Conv2D"] + block) * 3 + (["Conv2DTranspose"] + block) * 3
    convs = [layer for layer in model.layers if "Conv" in type(layer).__name__]
    assert [(c.filters, c.kernel_size[0], c.strides[0]) for c in convs] == [
        (64, 3, 2), (128, 5, 2), (256, 3, 2), (128, 3, 2), (64, 3, 2), (1, 3, 2)]
    assert all(type(c.kernel_initializer).__name__ == "Orthogonal" for c in convs)
    assert model.get_layer("dropout1").rate == 0.2
    assert model.output_shape == (None, 256, 256, 1)


@pytest.mark.parametrize("name", architectures.ARCHITECTURES)
def test_every_architecture_is_fully_convolutional(name):
    options = {"input_size": None} if name == "seed-autoencoder" else {}
    model = build(name, **options)
    s = architectures.stride(name, **options)
    x = np.random.default_rng(0).random((2, 3 * s, 5 * s, 1)).astype(np.float32)
    assert model(x, training=False).shape == x.shape


def test_default_is_small_residual_and_starts_as_identity():
    model = build(architectures.DEFAULT_ARCH)
    assert model.count_params() < 1_000_000
    x = np.random.default_rng(1).random((1, 32, 48, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(model(x, training=False)), x, atol=1e-6)  # zero-init noise head
    assert build("tiny").count_params() < 20_000


def test_noise_level_channel_reads_the_image_noise_and_grows_from_a_trained_net():
    from mri_denoise_gui.ml.layers import NoiseLevelMap, PixelUnshuffle
    from tests.ml.conftest import random_weights

    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[:128, :128] / 128.0
    smooth = (0.3 + 0.4 * yy + 0.2 * np.sin(6 * xx)).astype(np.float32)  # structure, no noise
    for sigma in (0.02, 0.05, 0.09):
        noisy = (smooth + rng.normal(0, sigma, smooth.shape)).astype(np.float32)[None, :, :, None]
        level = np.asarray(NoiseLevelMap()(PixelUnshuffle(2)(noisy)))
        assert level.shape == (1, 64, 64, 1) and np.ptp(level) == 0
        assert level[0, 0, 0, 0] == pytest.approx(10 * sigma, rel=0.15)

    small = random_weights(build("resunet", width=8, levels=1), seed=3)
    grown = architectures.grow(small, "resunet", width=8, levels=1, noise_level=True)
    assert "noise_level" in [layer.name for layer in grown.layers]
    x = rng.random((2, 32, 40, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(grown(x)), np.asarray(small(x)), atol=1e-6)  # new input at zero weight
    with pytest.raises(ValueError, match="cannot grow"):
        architectures.grow(small, "resunet", width=16, levels=1)
    with pytest.raises(ValueError, match="unshuffle=2"):
        build("resunet", unshuffle=4, noise_level=True)


def test_context_grows_a_2d_net_into_one_that_reads_neighbours_and_loads_safely(tmp_path):
    """resunet(context=1) (benchmarks/context_probe.py): the slice to denoise first, its neighbours
    after; grown from a 2D net it computes the same until trained, whatever the neighbours hold."""
    import keras

    from tests.ml.conftest import random_weights

    rng = np.random.default_rng(4)
    flat = random_weights(build("resunet", width=8, levels=1, noise_level=True), seed=6)
    grown = architectures.grow(flat, "resunet", width=8, levels=1, noise_level=True, context=1)
    assert grown.inputs[0].shape[-1] == 3 and grown.outputs[0].shape[-1] == 1
    x = rng.random((2, 32, 40, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(grown(x)), np.asarray(flat(x[..., :1])), atol=1e-6)
    trained = random_weights(grown, seed=7)  # non-zero neighbour weights: the neighbours now count
    other = x.copy()
    other[..., 1:] = rng.random((2, 32, 40, 2))
    assert np.abs(np.asarray(trained(x)) - np.asarray(trained(other))).max() > 1e-4
    trained.save(tmp_path / "ctx.keras")
    again = keras.saving.load_model(tmp_path / "ctx.keras", safe_mode=True)  # ChannelSlice is registered
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(trained(x)), atol=1e-6)


def test_unknown_names_and_options_are_clear():
    with pytest.raises(ValueError, match="unknown architecture"):
        build("nope")
    with pytest.raises(ValueError, match="bad options"):
        build("resunet", colour=3)


def test_cli_architecture_choices_match_registry():
    import argparse

    from mri_denoise_gui.cli_ml import add_ml_subcommands

    parser = argparse.ArgumentParser()
    add_ml_subcommands(parser.add_subparsers(dest="command"))
    for name in architectures.ARCHITECTURES:
        assert parser.parse_args(["train", "--arch", name]).arch == name

    from mri_denoise_gui.ml.data import NOISE_WEIGHTINGS
    from mri_denoise_gui.ml.train import LR_SCHEDULES, MONITORS

    for name in NOISE_WEIGHTINGS:
        assert parser.parse_args(["train", "--noise-weighting", name]).noise_weighting == name
    for name in MONITORS:
        assert parser.parse_args(["train", "--monitor", name]).monitor == name
    for name in LR_SCHEDULES:
        assert parser.parse_args(["train", "--lr-schedule", name]).lr_schedule == name


def test_the_tf_free_registry_names_every_builder_and_loss():
    from mri_denoise_gui.ml import architectures, training_choices
    from mri_denoise_gui.ml.losses import LOSSES

    assert architectures.ARCHITECTURES == training_choices.ARCHITECTURES
    assert tuple(LOSSES) == training_choices.LOSSES


def test_mid_blocks_grow_a_trained_net_that_computes_the_same_until_trained_then_learn(tmp_path):
    """resunet(mid_blocks=N) (issue 14, stage 7): residual blocks at the coarsest level whose output
    starts at zero, so the shipped network grows capacity without losing what it learned."""
    import keras

    from tests.ml.conftest import random_weights

    rng = np.random.default_rng(0)
    small = random_weights(build("resunet", width=8, levels=1, noise_level=True), seed=4)
    grown = architectures.grow(small, "resunet", width=8, levels=1, noise_level=True, mid_blocks=2)
    names = [layer.name for layer in grown.layers]
    assert {"mid_res0", "mid_res1_b"} <= set(names)
    assert grown.count_params() > small.count_params() + 2 * 2 * 9 * 16 * 16
    x = rng.random((2, 32, 40, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(grown(x)), np.asarray(small(x)), atol=1e-6)
    # the new blocks do train: a few steps move their zero-started output convolution
    grown.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mae")
    clean = np.clip(x - 0.1, 0, 1)
    grown.fit(x, clean, epochs=3, verbose=0)
    assert np.abs(grown.get_layer("mid_res0_b").get_weights()[0]).max() > 0
    path = tmp_path / "grown.keras"
    grown.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(grown(x)), atol=1e-6)
    with pytest.raises(ValueError, match="cannot grow"):  # other new layers are still refused
        architectures.grow(small, "resunet", width=8, levels=2, noise_level=True, mid_blocks=1)
