"""Precision chosen by the hardware, and the bfloat16 path agreeing with float32 on a tiny model."""

import numpy as np
import pytest

from mri_denoise_gui.ml import precision
from mri_denoise_gui.ml.architectures import build
from mri_denoise_gui.ml.inference import Denoiser
from mri_denoise_gui.ml.modelfile import save_model_folder
from tests.ml.conftest import random_weights

META = {"name": "m", "architecture": "resunet", "stride": 8,
        "architecture_options": {"width": 8, "levels": 2, "noise_level": True},
        "normalizer": {"method": "percentile", "low": 0.5, "high": 99.5}}
BF16_EPS = 2.0 ** -8  # bfloat16 keeps 8 significant bits: unit round-off


def test_cpu_flags_decide_and_a_forced_precision_wins(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor : 0\nflags : fpu sse2 avx512f avx512_bf16\n")
    assert precision.cpu_has_native_bf16(precision.cpu_flags(cpuinfo))
    assert precision.auto_precision("CPU", {"avx512f", "avx2"}) == ("float32", "CPU without native bfloat16")
    assert precision.auto_precision("CPU", {"amx_bf16"})[0] == "bfloat16"
    # avx512_bf16 alone: faster on AMD, slower than float32 on an Intel Xeon without AMX (measured)
    assert precision.auto_precision("CPU", {"avx512_bf16"}, "AuthenticAMD")[0] == "bfloat16"
    intel = precision.auto_precision("CPU", {"avx512_bf16"}, "GenuineIntel")
    assert intel[0] == "float32" and "no AMX" in intel[1]
    cpuinfo.write_text("processor : 0\nvendor_id : AuthenticAMD\nflags : fpu avx512_bf16\n")
    assert precision.cpu_vendor(cpuinfo) == "AuthenticAMD"
    assert precision.resolve("float32", "CPU") == ("float32", "forced")
    assert precision.cpu_flags(tmp_path / "missing") == set()
    with pytest.raises(ValueError, match="unknown precision"):
        precision.resolve("int8", "CPU")


def test_bfloat16_really_runs_and_agrees_with_float32(tmp_path):
    model = random_weights(build("resunet", **META["architecture_options"]), seed=3, scale=0.1)
    folder = save_model_folder(model, tmp_path / "m", META)
    exact = Denoiser.load(folder, precision="float32")
    fast = Denoiser.load(folder, precision="bfloat16")
    assert exact.precision == "float32" and fast.precision == "bfloat16"
    dtypes = precision.compute_dtypes(fast.compute_model)
    assert dtypes["enc1_a"] == "bfloat16" and dtypes["mid_b"] == "bfloat16" and dtypes["dec0_a"] == "bfloat16"
    assert dtypes["enc0_b"] == "float32" and dtypes["noise_level"] == "float32"  # the image's own precision
    assert dtypes["noise_out"] == "float32" and dtypes["denoised"] == "float32"  # input - noise, in full
    assert fast.model.get_weights()[0].dtype == np.float32  # weights stay float32
    assert fast.provenance()["precision"] == "bfloat16"

    x = np.random.default_rng(0).random((4, 48, 56)).astype(np.float32) * 0.9
    y32, y16 = exact.denoise_slices01(x), fast.denoise_slices01(x)
    assert y16.dtype == np.float32
    noise = np.abs(x - y32).max()  # what the bfloat16 branch computes; the input adds exactly
    assert noise > 0.01
    error = np.abs(y16 - y32)
    assert error.max() > 0  # not silently float32
    assert error.max() <= 16 * BF16_EPS * noise  # a few roundings per layer, relative to the branch
    assert error.mean() <= 2 * BF16_EPS * noise


def test_upsamplers_run_as_1x1_convolutions_with_the_same_arithmetic():
    model = random_weights(build("resunet", **META["architecture_options"]), seed=5, scale=0.1)
    config = model.get_config()
    rewritten = precision._upsamplers_as_convs(config)
    assert rewritten == {"up1_1x1": "up1", "up0_1x1": "up0"}
    same = precision._rebuilt(model, config, "float32", set())  # the rewrite alone, in float32
    x = np.random.default_rng(1).random((2, 40, 48, 1)).astype(np.float32)
    assert np.abs(np.asarray(same(x)) - np.asarray(model(x))).max() < 1e-5
    fast = precision.mixed_copy(model, "bfloat16")
    kinds = {layer.name: type(layer).__name__ for layer in fast.layers}
    assert kinds["up0"] == "PixelShuffle" and kinds["up0_1x1"] == "Conv2D" and "Conv2DTranspose" not in kinds.values()
    trained = precision.training_copy(model, "bfloat16")  # training keeps the saved architecture
    assert type(trained.get_layer("up0")).__name__ == "Conv2DTranspose"
    assert precision.compute_dtypes(trained)["up0"] == "bfloat16"


def test_new_weights_reach_the_fast_copy(tmp_path):
    """Setting the model's weights alone would leave the bfloat16 copy computing with the old ones
    (bench_adapt's 'default' rows on a bfloat16 CPU were the previous case's adapted network)."""
    model = random_weights(build("resunet", **META["architecture_options"]), seed=4, scale=0.1)
    folder = save_model_folder(model, tmp_path / "m", META)
    fast = Denoiser.load(folder, precision="bfloat16")
    exact = Denoiser.load(folder, precision="float32")
    x = np.random.default_rng(1).random((2, 48, 56)).astype(np.float32) * 0.9
    before = fast.denoise_slices01(x)
    weights = [w * 1.5 for w in fast.model.get_weights()]
    fast.set_weights(weights)
    exact.set_weights(weights)
    after, reference = fast.denoise_slices01(x), exact.denoise_slices01(x)
    assert fast.precision == "bfloat16" and fast.precision_requested == "bfloat16"
    assert np.abs(after - before).max() > 10 * np.abs(after - reference).max()  # it moved, to the new net
    assert np.abs(after - reference).max() <= 16 * BF16_EPS * np.abs(x - reference).max()


def test_switching_back_reuses_the_copy_with_the_weights_trained_meanwhile(tmp_path):
    """A switch must not rebuild and retrace (the old copies' garbage froze the GUI in long
    sessions), yet a kept copy must compute with the weights the network has now: an adaptation
    trains ``model`` in float32 (by ``fit``, not ``set_weights``) and then switches back."""
    model = random_weights(build("resunet", **META["architecture_options"]), seed=6, scale=0.1)
    folder = save_model_folder(model, tmp_path / "m", META)
    fast = Denoiser.load(folder, precision="bfloat16")
    x = np.random.default_rng(2).random((2, 48, 56)).astype(np.float32) * 0.9
    copy, traced = fast.compute_model, fast._predict
    before = fast.denoise_slices01(x)
    fast.set_precision("float32")
    assert fast.compute_model is fast.model
    fast.model.set_weights([w * 1.5 for w in fast.model.get_weights()])  # as fit would, behind its back
    reference = fast.denoise_slices01(x)
    fast.set_precision("bfloat16")
    assert fast.compute_model is copy and fast._predict is traced  # kept, not rebuilt
    after = fast.denoise_slices01(x)
    assert traced.experimental_get_tracing_count() == 1
    assert np.abs(after - before).mean() > 10 * np.abs(after - reference).mean()  # the new weights
    fast.set_strength(0.7)
    assert fast.compute_model is not copy
    fast.set_strength(1.0)
    assert fast.compute_model is copy
