import json
import threading

import keras
import numpy as np
import pytest

from mri_denoise_gui.ml.train import TrainingConfig, plan, train


def tiny_config(tmp_path, files, **kw):
    base = dict(out=str(tmp_path / "models" / "tiny"), data=[str(f) for f in files], arch="tiny",
                epochs=2, steps_per_epoch=8, batch_size=4, patch_size=32, learning_rate=5e-3,
                val_patches=8, noise_kind="rician", variance_range=(0.0025, 0.0064), seed=3)
    base.update(kw)
    return TrainingConfig(**base)


def test_config_validates_and_round_trips(tmp_path):
    (tmp_path / "x.nii.gz").write_bytes(b"")  # validate() checks the data exists; plan() reads it
    config = TrainingConfig(out=str(tmp_path / "m"), data=[str(tmp_path / "x.nii.gz")], epochs=3,
                            variance_range=(0.001, 0.004))
    assert config.validate() == {}
    assert TrainingConfig(out=str(tmp_path / "m"), data=[str(tmp_path / "gone.nii.gz")]).validate()["data"] == \
        "not found: gone.nii.gz"
    again = TrainingConfig.from_json(config.to_json())
    assert again == config
    bad = TrainingConfig(out="", epochs=0, patch_size=30, loss="mse", noise_kind="salt",
                         variance_range=(0.5, 0.1), learning_rate=3, noise_weighting="snr",
                         ema_momentum=1.0, lr_schedule="step", volume_index=-1).validate()
    assert {"out", "data", "epochs", "patch_size", "loss", "noise_kind", "variance_range", "learning_rate",
            "noise_weighting", "ema_momentum", "lr_schedule", "volume_index"} <= set(bad)
    with pytest.raises(ValueError, match="unknown training settings"):
        TrainingConfig.from_dict({"epochz": 3})


def test_config_files_that_are_not_configs_say_what_is_wrong(tmp_path):
    for text, words in (("[1, 2]", "JSON object"), ('{"epochs": 2,', "not valid JSON"),
                        ('{"data": "scan.nii.gz"}', "data (a list of paths)"),
                        ('{"arch_options": [1]}', "arch_options"), ('{"synthetic": "yes"}', "synthetic"),
                        ('{"out": 5}', "out (text)"), ('{"normalizer": null}', "normalizer")):
        with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
            TrainingConfig.from_json(text)
    config = TrainingConfig.from_json('{"seed": 1.5, "lr_patience": 0, "stream_seed": -1}')
    assert {"seed", "lr_patience", "stream_seed"} <= set(config.validate())


def test_a_fixed_size_network_takes_only_its_own_patch(tmp_path):
    seed = TrainingConfig(out=str(tmp_path / "m"), synthetic=True, arch="seed-autoencoder", patch_size=32)
    assert "256x256" in seed.validate()["patch_size"]
    seed.patch_size = 256
    assert seed.validate() == {}
    seed.arch_options, seed.patch_size = {"input_size": None}, 32  # built size-free: any multiple of 8
    assert seed.validate() == {}


def test_a_patch_larger_than_every_slice_is_refused_before_loading(tmp_path, volume_files):
    with pytest.raises(ValueError, match="at most 40"):
        plan(tiny_config(tmp_path, volume_files, patch_size=4096))
    with pytest.raises(ValueError, match="at most 20"):  # all axes: the 40x20 slices along axis 0
        plan(tiny_config(tmp_path, volume_files, patch_size=32, all_axes=True))
    assert not (tmp_path / "models").exists()


def test_plan_reports_disjoint_volumes(tmp_path, volume_files):
    summary = plan(tiny_config(tmp_path, volume_files, val_fraction=0.34))
    train_files, val_files = summary["train"]["files"], summary["validation"]["files"]
    assert summary["split"] == "volume" and not set(train_files) & set(val_files)
    assert summary["device"] in ("CPU",) or summary["device"].startswith("GPU")


def test_timed_plan_counts_slices_from_headers_and_times_a_step_once(tmp_path, volume_files):
    import nibabel as nib

    from mri_denoise_gui.ml.data import central_indices
    from mri_denoise_gui.ml.training_plan import timed_plan

    config = tiny_config(tmp_path, volume_files, val_fraction=0.34, central_fraction=0.5)
    cache = {}
    first = timed_plan(config, measure=True, cache=cache)
    expected = {side: sum(len(central_indices(nib.load(f).shape[2], 0.5)) for f in first[side]["files"])
                for side in ("train", "validation")}
    assert first["slices"] == expected
    assert first["seconds_per_epoch"] > first["seconds_per_step"] * config.steps_per_epoch > 0
    config.epochs = 9  # not part of a step's cost: the cached timing is reused, not measured again
    again = timed_plan(config, measure=True, cache=cache)
    assert len(cache) == 1 and again["seconds_per_step"] == first["seconds_per_step"]
    assert "seconds_per_epoch" not in timed_plan(config, measure=False)


def test_tiny_training_lowers_the_loss_and_writes_a_model_folder(tmp_path, volume_files):
    events = []
    config = tiny_config(tmp_path, volume_files, epochs=3, steps_per_epoch=15)
    result = train(config, progress=events.append)
    batch_losses = [e["logs"]["loss"] for e in events if e["kind"] == "batch"]
    assert np.mean(batch_losses[-5:]) < np.mean(batch_losses[:3])
    assert [e["kind"] for e in events][0] == "train_begin" and events[-1]["kind"] == "train_end"
    assert not result.cancelled and result.epochs_run == 3 and result.folder is not None
    files = sorted(p.name for p in result.folder.iterdir())
    assert files == ["model.json", "model.keras", "model.tflite", "model.tflite.json", "training_log.csv"]
    from mri_denoise_gui.ml.litert import lite_is_fresh

    assert lite_is_fresh(result.folder)  # converted from the best model.keras, not an earlier epoch's
    meta = json.loads((result.folder / "model.json").read_text())
    assert meta["architecture"] == "tiny" and meta["noise"]["kind"] == "rician"
    assert meta["epochs_run"] == 3 and meta["validation"]["noisy_input"]["psnr"] > 0
    # each epoch event says the best epoch so far and whether it was just written: the last one
    # published is the epoch model.json names, and the noisy input's scores ride along
    epoch_events = [e for e in events if e["kind"] == "epoch"]
    published = [e["epoch"] for e in epoch_events if e["published"]]
    assert published and published[-1] == meta["validation"]["epoch"] == epoch_events[-1]["best_epoch"]
    assert all(e["best_epoch"] == max(p for p in published if p <= e["epoch"]) for e in epoch_events)
    assert epoch_events[0]["noisy_input"] == meta["validation"]["noisy_input"]
    train_files = {t["file"] for t in meta["training_data"]["train"]}
    val_files = {t["file"] for t in meta["training_data"]["validation"]}
    assert train_files and val_files and not train_files & val_files
    assert all(t["slices"] > 0 for t in meta["training_data"]["train"])
    assert set(meta["versions"]) >= {"mri_denoise_gui", "tensorflow", "keras"}
    # weights only: no optimizer state in the shipped file
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(result.folder / "model.keras") as z:
        with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as h5:
            assert "optimizer" not in h5
    # no staging or work folders left next to the model
    assert [p.name for p in result.folder.parent.iterdir()] == ["tiny"]

    # fine-tuning starts from those weights and writes a new folder
    tuned = train(tiny_config(tmp_path, volume_files, out=str(tmp_path / "tuned"), epochs=1,
                              init_from=str(result.folder)))
    assert json.loads((tuned.folder / "model.json").read_text())["fine_tuned_from"] == str(result.folder)

    # with a weight average, the averaged weights are what gets saved: an average that barely moves
    # stays where Keras starts it (the weights after the first step, which Adam moves by at most
    # about the learning rate), where the same run without it moved them several times further
    lr = 5e-3
    averaged = train(tiny_config(tmp_path, volume_files, out=str(tmp_path / "averaged"), epochs=1,
                                 learning_rate=lr, init_from=str(result.folder), ema_momentum=0.999999))

    def weights(folder):
        model = keras.saving.load_model(str(folder / "model.keras"), compile=False)
        return np.concatenate([w.ravel() for w in model.get_weights()])

    start = weights(result.folder)
    assert np.abs(weights(tuned.folder) - start).max() > 3 * lr
    assert np.abs(weights(averaged.folder) - start).max() < 1.05 * lr

    # a cosine schedule sets each epoch's rate from the start down to 2% of it, whatever the
    # validation loss does (the plateau schedule only ever halves, and only after a stall)
    epochs = []
    train(tiny_config(tmp_path, volume_files, out=str(tmp_path / "cosine"), epochs=3, steps_per_epoch=2,
                      learning_rate=lr, init_from=str(result.folder), lr_schedule="cosine"),
          progress=lambda e: epochs.append(e) if e["kind"] == "epoch" else None)
    rates = [e["logs"]["learning_rate"] for e in epochs]
    assert rates == pytest.approx([lr, 0.51 * lr, 0.02 * lr], rel=1e-5)


def test_fine_tuning_with_new_options_grows_the_network(tmp_path, volume_files):
    from mri_denoise_gui.ml.architectures import build
    from mri_denoise_gui.ml.inference import Denoiser
    from mri_denoise_gui.ml.modelfile import save_model_folder

    options = {"width": 8, "levels": 1, "unshuffle": 2}
    start = save_model_folder(build("resunet", **options), tmp_path / "small",
                              {"architecture": "resunet", "architecture_options": options, "stride": 4,
                               "normalizer": {"method": "percentile", "low": 0.5, "high": 99.5}})
    grown = train(tiny_config(tmp_path, volume_files, out=str(tmp_path / "grown"), arch="resunet", epochs=1,
                              steps_per_epoch=2, init_from=str(start), arch_options={**options, "noise_level": True}))
    meta = json.loads((grown.folder / "model.json").read_text())
    assert meta["architecture_options"] == {**options, "noise_level": True}
    denoiser = Denoiser.load(grown.folder)  # safe_mode load: the new layer is registered
    assert "noise_level" in [layer.name for layer in denoiser.model.layers]
    assert denoiser.denoise_slices01(np.full((1, 20, 24), 0.5, np.float32)).shape == (1, 20, 24)
    with pytest.raises(Exception, match="as seed-autoencoder"):
        train(tiny_config(tmp_path, volume_files, out=str(tmp_path / "nope"), arch="seed-autoencoder",
                          init_from=str(start), arch_options={"input_size": None}))


def test_cancel_stops_within_a_batch_and_leaves_no_model(tmp_path, volume_files):
    cancel = threading.Event()
    batches = []

    def progress(event):
        if event["kind"] == "batch":
            batches.append(event["batch"])
            if event["batch"] == 2:
                cancel.set()

    config = tiny_config(tmp_path, volume_files, epochs=5, steps_per_epoch=50)
    result = train(config, progress=progress, cancel=cancel)
    assert result.cancelled and batches == [1, 2]
    assert result.folder is None
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []


def test_invalid_config_is_refused_before_training(tmp_path):
    with pytest.raises(ValueError, match="invalid training settings"):
        train(TrainingConfig(out=str(tmp_path / "m")))



def test_bfloat16_training_computes_in_bfloat16_and_saves_a_float32_model(tmp_path, volume_files, monkeypatch):
    from mri_denoise_gui.ml import precision
    from mri_denoise_gui.ml.inference import Denoiser

    fitted = []  # the network train() really fits
    copy = precision.training_copy
    monkeypatch.setattr(precision, "training_copy", lambda model, p: fitted.append(copy(model, p)) or fitted[-1])
    result = train(tiny_config(tmp_path, volume_files, epochs=1, steps_per_epoch=3, precision="bfloat16"))
    dtypes = precision.compute_dtypes(fitted[0])
    assert dtypes["enc0_a"] == "bfloat16" and dtypes["dec0_b"] == "bfloat16"  # the head too, while training
    assert dtypes["noise_out"] == "float32" and dtypes["denoised"] == "float32"  # the loss sees float32
    assert all(w.dtype == "float32" for w in fitted[0].weights)  # float32 variables, bfloat16 compute
    meta = json.loads((result.folder / "model.json").read_text())
    assert meta["training_precision"]["ran"] == "bfloat16" and meta["config"]["precision"] == "bfloat16"
    loaded = Denoiser.load(result.folder, precision="float32")
    assert set(precision.compute_dtypes(loaded.model).values()) == {"float32"}  # no mixed policy in the file
    assert all(w.dtype == np.float32 for w in loaded.model.get_weights())
    assert np.isfinite(loaded.denoise_slices01(np.full((1, 20, 24), 0.5, np.float32))).all()
    # auto trains in float32 (until a lower precision is shown to reach the same scores)
    assert precision.training_precision("auto", "CPU")[0] == "float32"
    assert precision.training_precision("float16", "CPU") == ("float16", "forced (emulated on this CPU: slower)")


def test_tiny_training_with_the_tissue_window_ssim_loss_runs_and_reloads(tmp_path, volume_files):
    from mri_denoise_gui.ml.inference import _load_keras

    result = train(tiny_config(tmp_path, volume_files, loss="ssim_masked", epochs=1, steps_per_epoch=4))
    assert result.folder is not None and np.isfinite(result.best["ssim"])
    meta = json.loads((result.folder / "model.json").read_text())
    assert meta["config"]["loss"] == "ssim_masked" and np.isfinite(meta["validation"]["loss"])
    _load_keras(result.folder / "model.keras")  # safe_mode load: the loss is registered, not a closure
