"""Hostile model folders, one per way a model folder can be wrong: built by a plain function so
the CLI tests (tests/hostile/test_models.py) and the window's tests (tests/qt) share them."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from tests.conftest import phantom, write_nifti

TINY_META = {"name": "tiny", "architecture": "tiny", "architecture_options": {}, "stride": 4,
             "normalizer": {"method": "percentile", "low": 0.5, "high": 99.5}}


def save_tiny(model, folder: Path, **meta) -> Path:
    from mri_denoise_gui.ml.modelfile import save_model_folder

    return save_model_folder(model, folder, {**TINY_META, **meta})


def _rewrite_json(folder: Path, change) -> Path:
    path = folder / "model.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))
    return folder


def build_model_corpus(root) -> dict[str, Path]:
    """One good tiny model and one folder per way a model folder can be wrong (name -> folder)."""
    import keras

    from mri_denoise_gui.ml.architectures import build

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    good = save_tiny(build("tiny"), root / "good")
    folders = {"good": good}

    scans = root / "scans"  # a folder of scans given as a model
    scans.mkdir()
    write_nifti(scans / "t1.nii.gz", phantom((16, 16, 4)))
    folders["scans"] = scans
    for name, text in (("not_json", "{not json"), ("json_list", "[1, 2]"),
                       ("other_tool", json.dumps({"model": "unet", "framework": "pytorch"}))):
        folder = root / name
        folder.mkdir()
        (folder / "model.json").write_text(text)
        (folder / "model.keras").write_bytes((good / "model.keras").read_bytes())
        folders[name] = folder
    for name, change in (("bad_normalizer", lambda m: m.update(normalizer={"method": "zscore"})),
                         ("inverted_percentiles", lambda m: m["normalizer"].update(low=99, high=1)),
                         ("wrong_parameters", lambda m: m.update(parameters=12345))):
        folders[name] = _rewrite_json(save_tiny(build("tiny"), root / name), change)
    folders["no_keras"] = save_tiny(build("tiny"), root / "no_keras")
    (folders["no_keras"] / "model.keras").unlink()
    folders["corrupt_keras"] = save_tiny(build("tiny"), root / "corrupt_keras")
    data = (folders["corrupt_keras"] / "model.keras").read_bytes()
    (folders["corrupt_keras"] / "model.keras").write_bytes(data[: len(data) // 2])

    def functional(outputs_of):
        inputs = keras.Input((None, None, 1))
        return keras.Model(inputs, outputs_of(inputs))

    lam = functional(lambda x: keras.layers.Lambda(lambda t: t * 2.0)(x))
    folders["lambda"] = save_tiny(lam, root / "lambda")
    three = functional(lambda x: keras.layers.Conv2D(3, 3, padding="same")(x))
    folders["three_channels"] = save_tiny(three, root / "three_channels")
    nan = build("tiny")
    nan.set_weights([np.full(w.shape, np.nan, np.float32) for w in nan.get_weights()])
    folders["nan_weights"] = save_tiny(nan, root / "nan_weights")
    folders["not_keras_zip"] = save_tiny(build("tiny"), root / "not_keras_zip")
    with zipfile.ZipFile(folders["not_keras_zip"] / "model.keras", "w") as z:
        z.writestr("readme.txt", "a zip, but not a Keras model")
    return folders


#: model folder -> words its one-line refusal must contain (besides the folder's name)
WITHOUT_TF = {
    "scans": "model.json is missing", "not_json": "not valid JSON", "json_list": "JSON object",
    "other_tool": "lacks", "bad_normalizer": "unusable normalizer", "inverted_percentiles": "unusable normalizer",
    "no_keras": "model.keras is missing", "corrupt_keras": "not a readable Keras model file",
}
WITH_TF = {
    "lambda": "unsafe", "three_channels": "outputs 3 channels", "nan_weights": "NaN",
    "wrong_parameters": "does not match", "not_keras_zip": "not a readable Keras model file",
}


