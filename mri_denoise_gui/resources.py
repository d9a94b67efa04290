"""Where the bundled demo volume, models and icons live.

In a wheel they are copied to ``mri_denoise_gui/resources``; in a source checkout
(editable install) they stay in the top-level ``resources/`` folder. Both are looked up.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resources_dir() -> Path:
    for candidate in (_PACKAGE_DIR / "resources", _PACKAGE_DIR.parent / "resources"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "the bundled resources folder is missing: reinstall mri-denoise-gui"
    )


def demo_volume_path() -> Path:
    return resources_dir() / "demo" / "mni152_t1_demo.nii.gz"


def models_dir() -> Path:
    return resources_dir() / "models"


def default_model_dir() -> Path:
    return models_dir() / "default"


def seed_model_dir() -> Path:
    return models_dir() / "seed-autoencoder"


def icons_dir() -> Path:
    return resources_dir() / "icons"
