"""Real-scan benchmark: the shipped models vs NLM and BM3D on real MRI shipped inside packages.

Evaluation only. The scans here ship as test / example data inside pydicom, pydicom-data, dipy
and nibabel; they are RESERVED for independent evaluation: no model, recipe or setting of this
project is trained, validated or tuned on them (training uses synthetic MNI-derived images only,
see ml/synthetic.py). Report on them; never pick a setting by them.

Each scan is written as NIfTI (float32, its voxel sizes) and scored by ``cli_ml.evaluate``: the
scan normalised with the default percentile Normalizer is the "clean" reference (it already
holds the scanner's own noise, so every score is against a slightly noisy truth), Rician noise
at sigma 3%, 5% and 7% of the range is added, whole-image and tissue (Otsu mask of the clean
scan) PSNR / SSIM per scan and mean. NLM estimates sigma per slice (core.baselines); BM3D is
told the true sigma of the added noise (the `bm3d` package, optional: `pip install
'mri-denoise-gui[bench]'`). Missing packages skip their scans with a message.

    python benchmarks/bench_real.py [--models DIR ...] [--no-bm3d] [--blind-bm3d] [--only NAME ...]
                                   [--precisions float32 auto] [--strengths 1 0.7 0.5] [--sigmas 0.05 0.1]

``--blind-bm3d`` also runs BM3D as the network and NLM run: blind, its sigma estimated per slice
from the noisy input (``core.baselines``' "bm3d", what a user of the app gets). Told the added
sigma, BM3D knows what no blind method can: that the scan's own noise is part of the reference and
should be left in. Each scan's own noise level (estimated in its tissue, normalised scale) is
printed for the same reason.

``--told-sigma`` also runs each model that has a noise-level input told the added sigma instead of
its own estimate (the non-blind comparison with BM3D told the sigma; reporting only).

``--strengths`` runs every model with a noise-level input at each denoising strength too (reporting
only: the strength is the user's, never chosen on these scans). ``--precisions`` runs every model in each precision named (default: ``auto`` only) and, with more
than one, prints each scan's tissue PSNR difference from float32 (issue 19's quality bar: within
0.02 dB on every scan).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402

from mri_denoise_gui.cli_ml import evaluate, format_table  # noqa: E402
from mri_denoise_gui.core.baselines import bm3d_available  # noqa: E402
from mri_denoise_gui.ml.training_choices import PRECISIONS  # noqa: E402

SIGMAS = (0.03, 0.05, 0.07)
CLEAN_REFERENCE = 0.01  # own noise below this: the scan is a fair reference for a blind denoiser
METRICS = ("psnr", "ssim", "tissue_psnr", "tissue_ssim", "seconds_per_slice")

# (name, package, path inside the installed package, what it is)
SCANS = [
    ("pydicom-data_MR2_UNCR", "data_store", "data/MR2_UNCR.dcm", "1024x1024 MR slice (pydicom-data)"),
    ("pydicom-data_MR-SIEMENS", "data_store", "data/MR-SIEMENS-DICOM-WithOverlays.dcm",
     "Siemens MR slice with overlays (pydicom-data)"),
    ("pydicom-data_emri_small", "data_store", "data/emri_small.dcm", "64x64x10 multi-frame MR (pydicom-data)"),
    ("pydicom_MR_small", "pydicom", "data/test_files/MR_small.dcm", "64x64 MR slice (pydicom test data)"),
    ("dipy_t1_coronal_slice", "dipy", "data/files/t1_coronal_slice.npy", "256x256 T1 coronal slice (dipy)"),
    ("dipy_aniso_vox_t1", "dipy", "data/files/aniso_vox.nii.gz", "58x58x24 T1, 4x4x5 mm (dipy)"),
    ("dipy_S0_10slices", "dipy", "data/files/S0_10slices.nii.gz", "128x128x10 b0 EPI, 2 mm (dipy)"),
    ("nibabel_anatomical_t1", "nibabel", "tests/data/anatomical.nii", "33x41x25 T1, 2 mm (nibabel tests)"),
    ("nibabel_example4d_epi", "nibabel", "tests/data/example4d.nii.gz", "128x96x24 EPI, volume 0 (nibabel tests)"),
]


def package_file(package: str, relative: str) -> Path | None:
    """The installed file, or None when the package is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    return path if path.is_file() else None


def read_scan(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """A real scan as a float32 3D array (slices along axis 2) and its voxel sizes in mm."""
    if path.suffix == ".npy":
        return np.load(path).astype(np.float32)[:, :, None], (1.0, 1.0, 1.0)
    if path.suffix == ".dcm":
        import pydicom  # optional: the bench extra

        ds = pydicom.dcmread(str(path))
        data = ds.pixel_array.astype(np.float32)
        data = data[:, :, None] if data.ndim == 2 else np.moveaxis(data, 0, 2)  # frames last
        row, col = (float(v) for v in getattr(ds, "PixelSpacing", (1.0, 1.0)))
        return data, (row, col, float(getattr(ds, "SliceThickness", 1.0) or 1.0))
    img = nib.load(str(path))
    data = np.asarray(img.dataobj, dtype=np.float32)
    if data.ndim == 4:
        data = data[..., 0]
    return data, tuple(float(z) for z in img.header.get_zooms()[:3])


def write_scans(folder: Path, only=None) -> list[tuple[Path, str]]:
    """Every available scan as NIfTI in ``folder`` -> [(path, description)]; prints what it skips."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, package, relative, what in SCANS:
        if only and name not in only:
            continue
        source = package_file(package, relative)
        if source is None:
            print(f"skipped {name}: package {package!r} (or its file {relative}) is not installed")
            continue
        try:
            data, zooms = read_scan(source)
        except ImportError as exc:
            print(f"skipped {name}: {exc}")
            continue
        path = folder / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(data, np.diag([*zooms, 1.0])), str(path))
        written.append((path, what))
    return written


def own_sigma(path: Path) -> float:
    """The scan's own noise sigma on the normalised scale the scores use (its tissue, as
    ``noref.estimate_sigma`` measures it: fine anatomy counts too, so an upper bound)."""
    from mri_denoise_gui.core.noref import estimate_sigma
    from mri_denoise_gui.core.normalize import Normalizer

    data = np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)
    return estimate_sigma(Normalizer().fit(data).forward(data), axis=2)


class KnownSigmaBM3D:
    """BM3D told the true sigma of the added noise, with the interface `evaluate` calls on a model."""

    def __init__(self, sigma: float):
        self.name = "bm3d (true sigma)"
        self.sigma = sigma

    def denoise_volume01(self, data01, axis=2, batch_size=8):
        import bm3d  # optional dependency

        out = np.empty_like(data01, dtype=np.float32)
        for i in range(data01.shape[axis]):
            index = [slice(None)] * 3
            index[axis] = i
            out[tuple(index)] = np.clip(bm3d.bm3d(data01[tuple(index)], sigma_psd=self.sigma), 0, 1)
        return out


def told_models(models, sigma: float) -> list:
    """Each model with a noise-level input again, told ``sigma`` instead of estimating it (float32),
    named "<name> (told sigma)": the network's side of the comparison with BM3D told the sigma."""
    from mri_denoise_gui.ml.inference import Denoiser
    from mri_denoise_gui.ml.strength import has_noise_input, told_copy

    out = []
    for m in models:
        if not has_noise_input(m.model) or m.strength != 1.0:
            continue
        copy = Denoiser.load(m.folder, precision="float32")
        copy.use_network(told_copy(copy.model, sigma, m.name), "float32", "told the sigma (benchmark)")
        copy.name = f"{m.name} (told sigma)"
        out.append(copy)
    return out


def mean_rows(per_file: list[dict], sigmas=SIGMAS) -> list[dict]:
    """Mean over scans per (method, sigma), then over sigmas per method (sigma None)."""
    rows = []
    methods = list(dict.fromkeys(r["method"] for r in per_file))
    for method in methods:
        for sigma in [*sigmas, None]:
            group = [r for r in per_file if r["method"] == method and (sigma is None or abs(r["sigma"] - sigma) < 1e-9)]
            if group:
                rows.append({"method": method, "sigma": sigma, "files": len(group),
                             **{k: float(np.mean([g[k] for g in group])) for k in METRICS}})
    return rows


def name_models(models, tagged: bool) -> None:
    """Row names: the model's own name; where two folders share it (a candidate beside the shipped
    default) also the folder's name, or its path if that is shared too; with ``tagged`` the
    precision that ran. Rows with one name would otherwise merge."""
    names = []
    for m in models:
        name = m.name
        if len({x.folder.resolve() for x in models if x.name == m.name}) > 1:
            clash = len({x.folder.resolve() for x in models if x.folder.name == m.folder.name}) > 1
            name += f" ({m.folder if clash else m.folder.name})"
        names.append(name + (f" [{m.precision}]" if tagged else ""))
    for m, name in zip(models, names):
        m.name = name


def at_strength(model, strength: float, name: str):
    """``model`` at ``strength`` (a fresh Denoiser of its folder unless 1), named "<name> @<strength>"."""
    from mri_denoise_gui.ml.inference import Denoiser

    copy = model if strength == 1.0 else Denoiser.load(model.folder, precision=model.precision)
    copy.set_strength(strength)
    copy.name = f"{name} @{strength:g}"
    return copy


def print_precision_deltas(per_file: list[dict], models) -> None:
    """Per scan and sigma, each lower-precision run's tissue PSNR minus its float32 run's (same folder)."""
    exact_name = {m.folder.resolve(): m.name for m in models if m.precision == "float32"}
    scores = {(r["method"], r["file"], round(r["sigma"], 4)): r["tissue_psnr"] for r in per_file}
    print("\ntissue PSNR difference from float32 (dB), per scan and sigma:")
    worst = 0.0
    for model in models:
        exact = exact_name.get(model.folder.resolve())
        if model.precision == "float32" or exact is None:
            continue
        for (method, file, sigma), value in scores.items():
            if method == model.name and (exact, file, sigma) in scores:
                delta = value - scores[(exact, file, sigma)]
                worst = max(worst, abs(delta))
                print(f"  {model.name:<28} {Path(file).name[:-7]:<26} {sigma:.2f}  {delta:+.4f}")
    print(f"largest |difference|: {worst:.4f} dB (issue 19: within 0.02 dB on every scan)")


def main(argv=None) -> int:
    from mri_denoise_gui.ml.inference import Denoiser
    from mri_denoise_gui.ml.strength import has_noise_input
    from mri_denoise_gui.resources import default_model_dir, seed_model_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--models", nargs="+", type=Path, default=[default_model_dir(), seed_model_dir()])
    parser.add_argument("--no-bm3d", action="store_true", help="skip BM3D (slow on large slices)")
    parser.add_argument("--blind-bm3d", action="store_true",
                        help="also BM3D with its sigma estimated from the noisy slice (as NLM is)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these scans (names as printed)")
    parser.add_argument("--told-sigma", action="store_true",
                        help="also run each model with a noise-level input told the added sigma, as BM3D is")
    parser.add_argument("--strengths", nargs="+", type=float, default=[1.0], metavar="S",
                        help="denoising strengths to run the models at (default 1; see ml/strength.py)")
    parser.add_argument("--precisions", nargs="+", default=["auto"], choices=PRECISIONS, metavar="PRECISION",
                        help="inference precisions to run each model in (default: auto)")
    parser.add_argument("--sigmas", nargs="+", type=float, default=list(SIGMAS), metavar="SIGMA",
                        help="Rician sigmas to add, fractions of the range (default 0.03 0.05 0.07; 0 = the scan "
                             "itself, what a model does to a clean input)")
    args = parser.parse_args(argv)
    if any(not 0 <= s < 1 for s in args.sigmas):
        parser.error("--sigmas: each in [0, 1)")

    scans = write_scans(args.out / "real", args.only)
    if not scans:
        print("no real scans available: pip install 'mri-denoise-gui[bench]'")
        return 1
    own = {str(path): own_sigma(path) for path, _ in scans}
    for path, what in scans:
        print(f"{path.name}: {what}; own noise ~{own[str(path)]:.4f} of the range (tissue estimate)")
    loaded = [Denoiser.load(folder, precision=precision) for folder in args.models for precision in args.precisions]
    models = list({(m.folder.resolve(), m.precision): m for m in loaded}.values())  # "auto" may be float32
    name_models(models, tagged=len(args.precisions) > 1)
    if args.strengths != [1.0]:  # each model again at every strength (models without the input: 1 only)
        named = [(m, m.name) for m in models]  # at_strength renames: take the names first
        models = [at_strength(m, s, name) for m, name in named for s in args.strengths
                  if s == 1.0 or has_noise_input(m.model)]
    use_bm3d = bm3d_available() and not args.no_bm3d and min(args.sigmas) > 0
    if not use_bm3d:
        print("BM3D: not run" + ("" if args.no_bm3d else " (pip install bm3d)"))
    baselines = ["nlm", "bm3d"] if args.blind_bm3d and bm3d_available() else ["nlm"]
    per_file = []
    started = time.time()
    for i, sigma in enumerate(args.sigmas):  # one call per sigma so that BM3D can be told it
        extra = [KnownSigmaBM3D(sigma)] if use_bm3d else []
        if args.told_sigma:
            extra = told_models(models, sigma) + extra
        result = evaluate([p for p, _ in scans], models + extra, noise_kind="rician",
                          variances=[sigma * sigma], baselines=baselines, axis=2, seed=7 + 100 * i)
        per_file += result["per_file"]
        print(f"sigma {sigma:.2f} done ({time.time() - started:.0f} s)", flush=True)
    rows = mean_rows(per_file, args.sigmas)
    print(f"\n{len(scans)} real scans, Rician noise, {time.time() - started:.0f} s")
    print(format_table([r for r in rows if r["sigma"] is not None]))
    print(f"\nmean over sigma {'/'.join(f'{s * 100:g}' for s in args.sigmas)}%:")
    for r in (r for r in rows if r["sigma"] is None):
        print(f"  {r['method']:<20} PSNR {r['psnr']:6.2f}  SSIM {r['ssim']:.4f}  tissue PSNR {r['tissue_psnr']:6.2f}"
              f"  tissue SSIM {r['tissue_ssim']:.4f}  {r['seconds_per_slice']:.4f} s/slice")
    print("\nper scan, tissue PSNR / tissue SSIM:")
    for path, _ in scans:
        for sigma in args.sigmas:
            cells = [f"{r['method']} {r['tissue_psnr']:.2f}/{r['tissue_ssim']:.3f}" for r in per_file
                     if r["file"] == str(path) and abs(r["sigma"] - sigma) < 1e-9]
            print(f"  {path.name[:-7]:<26} {sigma:.2f}  " + "  ".join(cells))
    clean = [f for f, sigma in own.items() if sigma < CLEAN_REFERENCE]
    if clean and len(clean) < len(own):
        print(f"\nmean over the {len(clean)} scans whose own noise is below {CLEAN_REFERENCE:.0%} (their reference is "
              "nearly clean, so removing all the noise is not scored as an error):")
        for r in mean_rows([r for r in per_file if r["file"] in clean], args.sigmas):
            label = "mean" if r["sigma"] is None else f"{r['sigma']:.2f}"
            print(f"  {r['method']:<24} {label:>5}  tissue PSNR {r['tissue_psnr']:6.2f}  tissue SSIM {r['tissue_ssim']:.4f}"
                  f"  PSNR {r['psnr']:6.2f}")
    if len(args.precisions) > 1:
        print_precision_deltas(per_file, models)
    report = {"scans": [{"file": str(p), "what": w, "own_sigma": own[str(p)]} for p, w in scans], "rows": rows,
              "per_file": per_file}
    (args.out / "bench_real.json").write_text(json.dumps(report, indent=2))
    print(f"\nper-file results: {args.out / 'bench_real.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
