"""Fixtures shared by every test folder: small real NIfTI files written with nibabel."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest


def phantom(shape=(32, 40, 24), seed=0) -> np.ndarray:
    """A brain-like phantom in scanner-ish units: background 0, two tissues, a bright blob."""
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    r = np.sqrt(x**2 + y**2 + z**2)
    data = np.where(r < 0.8, 600.0, 0.0)
    data = np.where(r < 0.5, 900.0, data)
    data += np.where((x - 0.2) ** 2 + y**2 + z**2 < 0.05, 300.0, 0.0)
    data += 10.0 * rng.standard_normal(shape) * (r < 0.8)
    return data.astype(np.float32)


def write_nifti(path: Path, data, affine=None, dtype=np.float32, sform_code=1, qform_code=1, **header) -> Path:
    affine = np.diag([1.0, 1.0, 1.0, 1.0]) if affine is None else np.asarray(affine, dtype=float)
    img = nib.Nifti1Image(np.asarray(data).astype(dtype), affine)
    img.set_sform(affine, code=sform_code)
    img.set_qform(affine, code=qform_code)
    for key, value in header.items():
        img.header[key] = value
    nib.save(img, str(path))
    return path


def rician_scan(path: Path, shape, sigma: float, seed: int) -> Path:
    """A real-looking noisy scan: the phantom with Rician noise (magnitude of complex Gaussian)."""
    rng = np.random.default_rng(seed + 1)
    clean = phantom(shape, seed=seed)
    noisy = np.hypot(clean + sigma * rng.standard_normal(clean.shape), sigma * rng.standard_normal(clean.shape))
    return write_nifti(path, noisy, affine=np.diag([1.0, 1.0, 2.0, 1.0]))


@pytest.fixture
def phantom_file(tmp_path) -> Path:
    return write_nifti(tmp_path / "phantom.nii.gz", phantom(), affine=np.diag([1.0, 1.2, 2.0, 1.0]))
