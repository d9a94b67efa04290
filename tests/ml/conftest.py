"""Fixtures for the ml tests: tiny volumes on disk and a tiny saved model folder."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import phantom, write_nifti


@pytest.fixture
def volume_files(tmp_path):
    """Three small phantom volumes with different seeds, as separate NIfTI files."""
    folder = tmp_path / "data"
    folder.mkdir()
    return [write_nifti(folder / f"vol{i}.nii.gz", phantom((40, 40, 20), seed=i)) for i in range(3)]


def random_weights(model, seed=0, scale=0.05):
    """Give every weight a random value so save/load comparisons mean something."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, scale, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from mri_denoise_gui.ml.architectures import build, stride
    from mri_denoise_gui.ml.modelfile import save_model_folder

    model = random_weights(build("tiny"), scale=0.02)
    folder = tmp_path_factory.mktemp("models") / "tiny"
    meta = {"name": "tiny", "architecture": "tiny", "architecture_options": {}, "stride": stride("tiny"),
            "normalizer": {"method": "percentile", "low": 0.5, "high": 99.5}}
    save_model_folder(model, folder, meta)
    return folder
