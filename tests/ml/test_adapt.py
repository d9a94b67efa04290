"""Self-supervised adaptation (ml.adapt) end to end on a tiny model and a tiny noisy volume."""

import json

import numpy as np
import pytest

from mri_denoise_gui.cli import main
from mri_denoise_gui.core.noise import add_noise
from mri_denoise_gui.core.normalize import Normalizer
from mri_denoise_gui.ml import adapt_data
from mri_denoise_gui.ml.adapt import AdaptConfig, adapt_loaded
from mri_denoise_gui.ml.adapt_guard import guard_decision
from mri_denoise_gui.ml.inference import Denoiser
from tests.conftest import phantom, write_nifti


@pytest.fixture
def noisy_file(tmp_path):
    clean = phantom((48, 48, 24), seed=3)
    clean01 = Normalizer().fit(clean).forward(clean)
    return write_nifti(tmp_path / "noisy.nii.gz", add_noise(clean01, "rician", 0.06**2, seed=1) * 1000)


@pytest.fixture(scope="module")
def fresh_tiny_dir(tmp_path_factory):
    """A tiny model as built (He-initialised, identity at the start), so a short adaptation can learn."""
    import keras

    from mri_denoise_gui.ml.architectures import build, stride
    from mri_denoise_gui.ml.modelfile import save_model_folder

    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("models") / "fresh"
    save_model_folder(build("tiny"), folder, {"name": "fresh", "architecture": "tiny", "architecture_options": {},
                                              "stride": stride("tiny"), "normalizer": {"method": "percentile"}})
    return folder


def test_cli_method_names_match_ml():
    from mri_denoise_gui import cli_adapt

    assert cli_adapt.METHODS == adapt_data.METHODS


def test_blind_spots_are_a_stratified_few_percent_and_hide_the_centre():
    rng = np.random.default_rng(0)
    patch = rng.normal(0.5, 0.1, (64, 64)).astype(np.float32)
    masked, weight = adapt_data.blind_spot(patch, 8, rng)
    assert weight.sum() == 64  # one per 8 x 8 cell
    assert all(weight[y:y + 8, x:x + 8].sum() == 1 for y in range(0, 64, 8) for x in range(0, 64, 8))
    changed = masked != patch
    assert not changed[weight == 0].any() and changed[weight == 1].mean() > 0.9


def test_recorrupted_pairs_have_independent_noises_of_the_asked_size():
    rng = np.random.default_rng(0)
    y = np.full((256, 256), 0.5, np.float32)
    x, t, w = adapt_data.recorrupt(y, 0.05, 0.5, rng)
    assert np.std(x - y) == pytest.approx(0.025, rel=0.05) and np.std(t - y) == pytest.approx(0.1, rel=0.05)
    assert abs(np.corrcoef((x - y).ravel(), (t - y).ravel())[0, 1]) == pytest.approx(1.0, rel=1e-3)
    assert w.min() == 1.0


def test_rician_recorrupted_targets_point_at_the_signal_not_the_noisy_mean():
    from mri_denoise_gui.core.rician import floor_map

    sigma, rng = 0.05, np.random.default_rng(1)
    y = add_noise(np.full((256, 256), 0.06, np.float32), "rician", sigma**2, seed=2, clip=False)
    floor = floor_map(y[None], sigma)[1][0]
    plain = adapt_data.recorrupt(y, sigma, 1.0, rng)[1]
    _, target, _ = adapt_data.recorrupt(y, sigma, 1.0, rng, floor)
    assert plain.mean() - 0.06 > 0.02 and abs(target.mean() - 0.06) < 0.006


def test_adapt_config_names_the_noise_models_it_takes():
    assert AdaptConfig(files=["scan.nii.gz"]).validate() == {}
    bad = AdaptConfig(files=["scan.nii.gz"], noise="speckle").validate()
    assert set(bad) == {"noise"} and "rician" in bad["noise"] and "gaussian" in bad["noise"]


def test_slice_pool_cuts_and_turns_the_floor_with_its_patch():
    rng = np.random.default_rng(0)
    slices = [rng.random((40, 56)).astype(np.float32) for _ in range(3)]
    # floor = 2y makes input + target = (y + z) + (y - z - 2y) = 0 only where they line up
    pool = adapt_data.SlicePool(slices, [0.05] * 3, rng=rng, floors=[2 * s for s in slices])
    x, t = pool.batch(16, "r2r", 32)
    assert np.abs(x[..., 0] + t[..., 0]).max() < 1e-5 and np.abs(x).max() > 0.1


def test_guard_keeps_only_a_clear_estimated_gain():
    before = {"j_invariant": {"model": 0.004, "nlm": 0.0045}, "sure_mse": {"model": 0.001, "nlm": 0.0012}}
    better = {"j_invariant": {"model": 0.0041}, "sure_mse": {"model": 0.0008}}
    kept = guard_decision(before, better)
    assert kept["kept"] and kept["winner"] == "adapted" and kept["estimated_gain_db"] == pytest.approx(0.969, abs=0.01)
    for sure in (0.0011, 0.00099):  # worse, or better by less than the margin
        rejected = guard_decision(before, {"j_invariant": {"model": 0.003}, "sure_mse": {"model": sure}})
        assert not rejected["kept"] and rejected["winner"] == "starting model"


def test_guard_rejects_an_adaptation_that_makes_things_worse(noisy_file, tiny_model_dir):
    denoiser = Denoiser.load(tiny_model_dir)
    initial = denoiser.model.get_weights()
    # a learning rate this large wrecks the weights: the guard must hand back the starting model
    config = AdaptConfig(files=[str(noisy_file)], method="r2r", learning_rate=0.9, max_steps=20,
                         steps_per_epoch=10, guard_nlm=False, minutes=1)
    result = adapt_loaded(denoiser, config)
    assert not result.kept and result.winner == "starting model"
    for a, b in zip(denoiser.model.get_weights(), initial):
        np.testing.assert_array_equal(a, b)


def test_adapt_command_end_to_end_writes_a_loadable_adapted_model(tmp_path, noisy_file, fresh_tiny_dir, capsys):
    out = tmp_path / "adapted"
    code = main(["adapt", str(noisy_file), "--out", str(out), "--init-from", str(fresh_tiny_dir),
                 "--steps", "600", "--lr", "0.001", "--minutes", "2"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert "epoch 1/" in err and "estimated tissue PSNR change" in err
    assert "kept the adapted model" in err, err  # the tiny model starts as the identity: adapting helps
    model = Denoiser.load(out)
    meta = model.info
    assert meta["fine_tuned_from"] == str(fresh_tiny_dir) and meta["architecture"] == "tiny"
    assert meta["adaptation"]["files"] == [str(noisy_file)] and meta["adaptation"]["method"] == "r2r"
    assert meta["adaptation"]["guard"]["kept"] and meta["adaptation"]["settings"]["learning_rate"] == 0.001
    assert model.denoise_slice01(np.full((16, 16), 0.5, np.float32)).shape == (16, 16)


def test_denoise_with_adapt_writes_the_output_and_keeps_the_model_only_if_asked(tmp_path, noisy_file,
                                                                                tiny_model_dir, capsys):
    out_dir, keep = tmp_path / "out", tmp_path / "models"
    out_dir.mkdir()
    keep.mkdir()
    code = main(["denoise", str(noisy_file), "--output-dir", str(out_dir), "--model", str(tiny_model_dir),
                 "--adapt", "--adapt-method", "n2v", "--adapt-steps", "20", "--keep-adapted", str(keep), "--quiet",
                 "--adapt-noise", "gaussian", "--adapt-warmup", "5"])
    _, err = capsys.readouterr()
    assert code == 0, err
    sidecar = json.loads((out_dir / "noisy_denoised.json").read_text())
    assert sidecar["adaptation"]["method"] == "n2v" and "guard" in sidecar["adaptation"]
    assert sidecar["adaptation"]["settings"]["noise"] == "gaussian"
    assert sidecar["adaptation"]["settings"]["warmup_steps"] == 5
    kept = sidecar["adaptation"]["guard"]["kept"]
    assert (keep / "noisy_adapted").is_dir() == kept


@pytest.mark.parametrize("args, message", [
    (["--method", "n2v", "--minutes", "0"], "--minutes"),
    (["--out", "{input}"], "overwrite an input"),
])
def test_adapt_user_errors_exit_2_with_one_line(tmp_path, noisy_file, tiny_model_dir, capsys, args, message):
    argv = ["adapt", str(noisy_file), "--out", str(tmp_path / "m"), "--init-from", str(tiny_model_dir)]
    argv += [a.replace("{input}", str(noisy_file)) for a in args]
    with pytest.raises(SystemExit) if "--minutes" in args else _nothing():
        code = main(argv)
        assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_adapting_a_bfloat16_denoiser_trains_float32_and_rebuilds_its_fast_copy(noisy_file, fresh_tiny_dir):
    denoiser = Denoiser.load(fresh_tiny_dir, precision="bfloat16")
    initial = denoiser.model.get_weights()
    config = AdaptConfig(files=[str(noisy_file)], method="r2r", learning_rate=0.001, max_steps=600,
                         steps_per_epoch=100, guard_nlm=False, minutes=2)
    result = adapt_loaded(denoiser, config)
    assert result.kept, result.summary.get("guard")  # the fresh tiny model starts as the identity
    assert denoiser.precision == "bfloat16" and denoiser.compute_model is not denoiser.model
    assert any(not np.array_equal(a, b) for a, b in zip(denoiser.model.get_weights(), initial))
    exact = {layer.name: layer.get_weights() for layer in denoiser.model.layers}
    for layer in denoiser.compute_model.layers:  # the copy runs the adapted weights
        if layer.name.endswith("_1x1"):  # an upsampler run as a 1x1 convolution: the same kernel, reshaped
            kernel = exact[layer.name[:-4]][0]
            want = [np.transpose(kernel, (3, 0, 1, 2)).reshape(layer.get_weights()[0].shape)]
        else:
            want = exact[layer.name]
        for fast, w in zip(layer.get_weights(), want):
            np.testing.assert_array_equal(np.asarray(fast, np.float32), w)


def test_a_second_adaptation_reuses_the_traced_steps_with_a_fresh_optimiser(noisy_file, fresh_tiny_dir):
    """Compiling anew for every adaptation left the old traced steps as garbage (1.5-2 s collection
    pauses in the window); reusing them must not carry the first run's Adam state into the second."""
    denoiser = Denoiser.load(fresh_tiny_dir, precision="float32")
    initial = denoiser.model.get_weights()
    config = AdaptConfig(files=[str(noisy_file)], method="r2r", learning_rate=0.002, max_steps=40,
                         steps_per_epoch=20, patience=10, guard_nlm=False, minutes=5)
    first = adapt_loaded(denoiser, config)
    step = denoiser.model.train_function
    denoiser.set_weights(initial)
    second = adapt_loaded(denoiser, config)
    assert denoiser.model.train_function is step  # not traced again
    assert first.steps_run == second.steps_run == 40  # the step count restarted too
    moved = max(np.abs(a - b).max() for a, b in zip(first.adapted_weights, initial))
    assert moved > 1e-3
    for a, b in zip(first.adapted_weights, second.adapted_weights):
        np.testing.assert_allclose(a, b, atol=1e-3 * moved)


def test_warmup_starts_the_rate_low(noisy_file, fresh_tiny_dir):
    """A fresh Adam's first steps move every weight by about the full rate; the warmup makes them small."""
    denoiser = Denoiser.load(fresh_tiny_dir, precision="float32")
    initial = denoiser.model.get_weights()
    moved = {}
    # each run is one epoch of 20 steps: max_steps 20, or 8000 cut by the time budget after the first
    # epoch; a 2000-step warmup is cut to a quarter of max_steps (5 of the 20), not of 8000
    for warmup, steps in ((0, 20), (2000, 20), (2000, 8000)):
        denoiser.set_weights(initial)
        config = AdaptConfig(files=[str(noisy_file)], method="r2r", learning_rate=0.002, max_steps=steps,
                             steps_per_epoch=20, guard_nlm=False, minutes=1e-4, warmup_steps=warmup)
        result = adapt_loaded(denoiser, config)
        assert result.steps_run == 20
        moved[warmup, steps] = max(np.abs(a - b).max() for a, b in zip(result.adapted_weights, initial))
    assert moved[2000, 8000] < 0.1 * moved[0, 20]
    assert moved[2000, 20] > 0.3 * moved[0, 20]
    assert set(AdaptConfig(files=["a.nii"], warmup_steps=-1).validate()) == {"warmup_steps"}


def test_strips_cut_the_longer_side_into_equal_parts():
    from mri_denoise_gui.ml.adapt import strips

    image = np.arange(50 * 31, dtype=np.float32).reshape(50, 31)
    parts, cut = strips(image, 3)
    assert cut == 0 and parts.shape == (3, 16, 31)
    np.testing.assert_array_equal(parts[1], image[16:32])
    parts, cut = strips(image.T, 3)
    assert cut == 1 and parts.shape == (3, 31, 16)


def test_a_single_slice_scan_adapts_on_held_out_regions(tmp_path, fresh_tiny_dir, capsys):
    """A 2D scan has no slices to hold out: the middle strip of its slice is held out for the guard."""
    clean = phantom((96, 72, 1), seed=5)
    clean01 = Normalizer().fit(clean).forward(clean)
    noisy = write_nifti(tmp_path / "slice.nii.gz", add_noise(clean01, "rician", 0.06**2, seed=2) * 1000)
    out = tmp_path / "adapted"
    code = main(["adapt", str(noisy), "--out", str(out), "--init-from", str(fresh_tiny_dir),
                 "--steps", "400", "--lr", "0.001", "--minutes", "2"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "kept the adapted model" in err, err  # the fresh tiny model starts as the identity
    held = Denoiser.load(out).info["adaptation"]["held_out_slices"][str(noisy)]
    assert held == {"region": "strip 2 of 3 across axis 0 of slice 0"}
