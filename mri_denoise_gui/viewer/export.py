"""Export of the denoised / noisy volume: original units, original header, a provenance sidecar.

Plain functions on `ViewerData` (no Qt), run by the window in a background thread.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import replace
from pathlib import Path

import numpy as np

from mri_denoise_gui.core.volume import save_volume
from mri_denoise_gui.viewer.state import MODE_CLEAN, MODE_NOISY, NoiseSettings, ViewerData

MODEL_KEYS = ("architecture", "architecture_options", "noise", "validation", "created", "versions")


def suggest_export_path(volume, kind: str) -> Path:
    """`scan.nii.gz` -> `scan_denoised.nii.gz` next to it (never the input itself)."""
    folder = volume.path.parent if volume.path is not None else Path.home()
    stem = volume.path.name if volume.path is not None else "volume.nii.gz"
    for suffix in (".nii.gz", ".nii"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return folder / f"{stem}_{kind}.nii.gz"


def build_sidecar(data: ViewerData, kind: str, noise: NoiseSettings, model: dict | None,
                  denoised_axis: int | None) -> dict:
    """What was exported, from what, with which noise and model, and how good it was."""
    vol = data.volume
    side = {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "content": kind,
        "source": {"path": str(vol.path) if vol.path else None, "volume_index": vol.volume_index,
                   "opened_as": "real noisy scan" if data.mode == MODE_NOISY else "clean volume (ground truth)"},
        "normalizer": data.normalizer.to_dict(),
        "units": "original intensity units of the source (normalisation inverted)",
    }
    if data.mode == MODE_CLEAN:
        side["noise"] = noise.to_dict()
    if data.reference is not None:
        side["reference"] = str(data.reference.path)
    if model is not None:
        info = model.get("info", {})
        side["model"] = {"name": model.get("name"), "folder": model.get("folder"), "device": model.get("device"),
                         "strength": model.get("strength", 1.0), **{k: info[k] for k in MODEL_KEYS if k in info}}
        side["denoised_along_axis"] = denoised_axis
    if data.volume_metrics is not None:
        side["metrics"] = {"vs": "ground truth", **data.volume_metrics}
    return side


def export_source01(data: ViewerData, kind: str) -> np.ndarray | None:
    """The normalised volume an export of ``kind`` writes (None until there is one)."""
    return data.denoised01 if kind == "denoised" else data.noisy01


def export_array(data: ViewerData, kind: str) -> np.ndarray:
    """The volume to write, back in the source's units.

    A real scan's intensities beyond the normaliser's percentiles were clipped before denoising:
    they are given back (as `ml.inference.Denoiser.denoise_volume` does). Not for simulated
    noise, where that would copy the ground truth into the output.
    """
    array01 = export_source01(data, kind)
    if array01 is None:
        raise ValueError(f"there is no {kind} volume yet")
    norm = data.normalizer
    out = norm.inverse(array01)
    if data.mode == MODE_NOISY and kind == "denoised":
        src = data.volume.data
        out = out + (src - norm.inverse(norm.forward(src)))
    return out


def write_export(data: ViewerData, kind: str, path: Path, sidecar: dict) -> Path:
    """Write in the source's own shape: a one-volume 4D file (x, y, z, 1) stays 4D, a 2D one 2D."""
    array, like = export_array(data, kind), data.volume
    source_shape = tuple(int(s) for s in like.header.get_data_shape())
    if like.n_volumes == 1 and source_shape != array.shape and int(np.prod(source_shape)) == array.size:
        array = array.reshape(source_shape)
        like = replace(like, data=like.data.reshape(source_shape))  # a view: same voxels, the file's shape
    return save_volume(path, array, like=like, sidecar=sidecar)
