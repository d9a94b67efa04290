"""Rebuild resources/demo/mni152_t1_demo.nii.gz from the MNI152 template inside nilearn.

Needs nilearn only here (`pip install -e '.[demo]'` or `make demo-volume`); the app itself
ships the result. The template is cropped to the head's bounding box (a few voxels of
margin) and stored as int16 in arbitrary scanner-like units (0..1020), so the demo exercises
the same scaling path as a real scan.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nibabel as nib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "demo" / "mni152_t1_demo.nii.gz"


def template_path(name: str = "t1") -> Path:
    import nilearn

    return (
        Path(nilearn.__file__).parent / "datasets" / "data" / f"mni_icbm152_{name}_tal_nlin_sym_09a_converted.nii.gz"
    )


def build(out: Path = OUT, margin: int = 4) -> Path:
    img = nib.load(str(template_path("t1")))
    data = np.asarray(img.dataobj).astype(np.float32)
    nz = np.argwhere(data > 0)
    lo = np.maximum(nz.min(axis=0) - margin, 0)
    hi = np.minimum(nz.max(axis=0) + margin + 1, data.shape)
    crop = data[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] * 4.0
    affine = img.affine.copy()
    affine[:3, 3] = img.affine[:3, :3] @ lo + img.affine[:3, 3]
    out_img = nib.Nifti1Image(np.round(crop).astype(np.int16), affine)
    out_img.set_sform(affine, code=4)  # MNI152 space
    out_img.set_qform(affine, code=4)
    out_img.header.set_xyzt_units("mm", "sec")
    out_img.header["descrip"] = b"MNI152 ICBM 2009a sym T1 (mri-denoise-gui demo)"
    out.parent.mkdir(parents=True, exist_ok=True)
    nib.save(out_img, str(out))
    return out


if __name__ == "__main__":
    path = build()
    print(f"wrote {path} {nib.load(str(path)).shape}", file=sys.stderr)
