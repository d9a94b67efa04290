"""Qt fixtures: an isolated QSettings file, a real tiny model folder, small NIfTI volumes, a window.

The model is real (``ml.architectures.build("tiny")`` saved with ``ml.modelfile``): it
loads and denoises a slice in well under a second, so nothing here mocks the network.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PyQt6.QtWidgets")
pytest.importorskip("pytestqt")

from PyQt6.QtCore import QSettings  # noqa: E402

from tests.conftest import phantom, write_nifti  # noqa: E402

MODEL_TIMEOUT_MS = 120_000


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from mri_denoise_gui.core.normalize import Normalizer
    from mri_denoise_gui.ml import architectures, modelfile

    model = architectures.build("tiny")
    folder = tmp_path_factory.mktemp("models") / "tiny"
    meta = {
        "architecture": "tiny",
        "normalizer": Normalizer().to_dict(),
        "noise": {"kind": "rician", "variance": [0.0005, 0.01]},
        "stride": architectures.stride("tiny"),
    }
    return modelfile.save_model_folder(model, folder, meta)


@pytest.fixture(scope="session")
def noise_model_dir(tmp_path_factory) -> Path:
    """A tiny resunet with the noise-level input (so its strength can be set), random weights."""
    from mri_denoise_gui.core.normalize import Normalizer
    from mri_denoise_gui.ml import architectures, modelfile

    options = {"width": 8, "levels": 1, "noise_level": True}
    model = architectures.build("resunet", **options)
    rng = np.random.default_rng(5)
    model.set_weights([rng.normal(0, 0.1, w.shape).astype(np.float32) for w in model.get_weights()])
    meta = {"architecture": "resunet", "architecture_options": options, "normalizer": Normalizer().to_dict(),
            "stride": architectures.stride("resunet", **options)}
    return modelfile.save_model_folder(model, tmp_path_factory.mktemp("models") / "noisy-input", meta)


@pytest.fixture(autouse=True)
def private_error_log(tmp_path, monkeypatch):
    """Tracebacks of unexpected errors go to the test's folder, never the user's log."""
    monkeypatch.setenv("MRI_DENOISE_LOG_DIR", str(tmp_path / "logs"))


@pytest.fixture
def settings(tmp_path) -> QSettings:
    """Never the user's real settings: a private INI file per test."""
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def small_file(tmp_path) -> Path:
    """32 x 40 x 24 voxels of 1 x 1.2 x 2 mm, RAS."""
    return write_nifti(tmp_path / "small.nii.gz", phantom((32, 40, 24)), affine=np.diag([1.0, 1.2, 2.0, 1.0]))


@pytest.fixture
def tall_file(tmp_path) -> Path:
    """60 axial slices: room for 50 distinct slice requests."""
    return write_nifti(tmp_path / "tall.nii.gz", phantom((24, 28, 60), seed=1), affine=np.diag([1.0, 1.0, 1.0, 1.0]))


@pytest.fixture
def make_window(qtbot, settings):
    """Build main windows that are closed (worker stopped) after the test."""
    from mri_denoise_gui.qt.main_window import MainWindow

    windows = []

    def make(s=None):
        w = MainWindow(settings=s if s is not None else settings)
        qtbot.addWidget(w)
        w.show()
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.close()
        w.tasks.join(10)
        assert w.controller.thread.isFinished(), "the inference thread outlived its window"


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture
def model_window(qtbot, window, tiny_model_dir):
    """A window with the tiny model loaded."""
    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS):
        window.load_model(tiny_model_dir)
    return window


def wait_denoised_current(qtbot, window, timeout=30_000):
    """Until the denoised pane shows the slice that is selected now."""
    qtbot.waitUntil(lambda: window.current.get("denoised") is not None
                    and window.panes["denoised"].image is window.current["denoised"], timeout=timeout)


def open_and_wait(qtbot, window, path, timeout=60_000, **kwargs):
    """Open a file and wait until it is on screen (volumes above SYNC_LOAD_VOXELS load in a thread)."""
    with qtbot.waitSignal(window.volumeLoaded, timeout=timeout):
        assert window.open_file(path, **kwargs)
