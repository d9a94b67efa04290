"""Probe of the recorrupted-pairs (R2R) adaptation itself, on development data, guard aside.

Why: R2R trains the network on inputs y + alpha*z, whose noise is sqrt(1 + alpha^2) times the
scan's, while `denoise --adapt` then runs it on y; and on magnitude data its targets' mean is the
noisy mean, above the signal in dark tissue. This asks, at a fixed number of steps and with the
guard's verdict only recorded (the adapted weights are scored whatever it said), which variant
gains most: alpha (a smaller one: closer noise level, noisier targets), the noise model (rician:
targets without the noise floor, core.rician), and the R2R paper's test-time average over K
recorrupted inputs instead of one pass on y.

Inputs: the three synthetic MNI test-slab volumes of bench_adapt.py and 24 slices of the demo
volume (the MNI152 T1 template, a real averaged scan), Rician noise at each sigma; or, with
``--single-slices``, six single-slice scans cut from them; ``--reference-noise S`` gives each
reference noise of its own first, as most real references have, and scores against both. Never
the reserved scans of bench_real.py. Usage:
    python benchmarks/adapt_probe.py [--variants 1/gaussian 1/rician 0.5/rician] [--average K] [--steps 1200] [--sigmas ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench_adapt import noisy_cases, synthetic_files  # noqa: E402

from mri_denoise_gui.core.metrics import psnr  # noqa: E402


def demo_slab(folder: Path) -> Path:
    from mri_denoise_gui.resources import demo_volume_path

    img = nib.load(str(demo_volume_path()))
    data = np.asarray(img.dataobj, dtype=np.float32)[:, :, 100:124]
    path = folder / "mni_t1_demo_100_124.nii.gz"
    nib.save(nib.Nifti1Image(data, img.affine), path)
    return path


def single_slices(folder: Path) -> list[Path]:
    """Development single-slice scans, as a 2D DICOM or one thin slice gives the app: the middle
    slice of each synthetic test-slab volume, two slices of the demo volume (axial, coronal) and a
    coarse ~60x70 one (the synthetic T1's middle slice, 3x3 block means), written as (H, W, 1)."""
    out = []
    for path in synthetic_files(folder):
        data = np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)
        out.append((path.stem.split(".")[0] + "_mid", data[:, :, data.shape[2] // 2]))
    from mri_denoise_gui.resources import demo_volume_path

    demo = np.asarray(nib.load(str(demo_volume_path())).dataobj, dtype=np.float32)
    out += [("demo_axial_110", demo[:, :, 110]), ("demo_coronal_120", demo[:, 120, :])]
    t1 = out[0][1]
    h, w = (t1.shape[0] // 3) * 3, (t1.shape[1] // 3) * 3
    out.append(("synth_t1_mid_3mm", t1[:h, :w].reshape(h // 3, 3, w // 3, 3).mean(axis=(1, 3))))
    files = []
    for name, image in out:
        files.append(folder / f"{name}.nii.gz")
        nib.save(nib.Nifti1Image(image[:, :, None], np.eye(4)), files[-1])
    return files


def with_own_noise(files: list[Path], sigma: float, folder: Path) -> dict[Path, np.ndarray]:
    """Each file as a scan whose reference holds Rician noise ``sigma`` of its own (seeded), like six
    of the nine reserved real scans: {noisy-reference file: its true clean volume, normalised as
    noisy_cases normalises that file}. Scored against the noisy reference, as bench_real must
    score, and against the truth."""
    from mri_denoise_gui.core.noise import add_noise
    from mri_denoise_gui.core.normalize import Normalizer

    out = {}
    for k, path in enumerate(files):
        data = np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)
        clean01 = Normalizer().fit(data).forward(data)
        reference = add_noise(clean01, "rician", sigma**2, seed=50 + k) * 1000
        path_out = folder / f"{path.name.split('.')[0]}_own{sigma:g}.nii.gz"
        nib.save(nib.Nifti1Image(reference, np.eye(4)), path_out)
        out[path_out] = Normalizer().fit(reference).forward(clean01 * 1000)
    return out


def recorrupted_average(den, noisy: np.ndarray, sigma: float, alpha: float, k: int, seed: int) -> np.ndarray:
    """The R2R paper's estimate: the mean of the network over ``k`` inputs y + alpha z."""
    rng = np.random.default_rng(seed)
    total = np.zeros_like(noisy, dtype=np.float64)
    for _ in range(k):
        z = rng.normal(0.0, sigma, noisy.shape).astype(np.float32)
        total += den.denoise_volume(noisy + alpha * z)
    return (total / k).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*")
    ap.add_argument("--sigmas", nargs="+", type=float, default=[0.03, 0.05, 0.07])
    ap.add_argument("--variants", nargs="+", default=["1/gaussian", "1/rician"],
                    help="ALPHA/NOISE pairs (AdaptConfig.alpha / .noise) to adapt with")
    ap.add_argument("--average", type=int, default=0, help="also score the mean over K recorrupted inputs (0: skip)")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--warmup", type=int, default=None, help="AdaptConfig.warmup_steps (default: its own)")
    ap.add_argument("--json", default=None, help="also write the rows here")
    ap.add_argument("--single-slices", action="store_true",
                    help="single-slice development scans (single_slices) instead of the volumes")
    ap.add_argument("--reference-noise", type=float, default=0.0, metavar="S",
                    help="give each reference Rician noise S of its own first (with_own_noise) and also "
                         "score against the true clean volume (keys ending _vs_clean)")
    args = ap.parse_args()
    from mri_denoise_gui.ml.adapt import AdaptConfig, adapt_loaded
    from mri_denoise_gui.ml.inference import Denoiser
    from mri_denoise_gui.resources import default_model_dir

    tmp = Path(tempfile.mkdtemp())
    files = [Path(f) for f in args.files] or (single_slices(tmp) if args.single_slices
                                               else [*synthetic_files(tmp), demo_slab(tmp)])
    truths = with_own_noise(files, args.reference_noise, tmp) if args.reference_noise else {}
    files = list(truths) or files
    den = Denoiser.load(default_model_dir())
    initial = den.model.get_weights()
    rows = []
    for path, sigma, clean, tissue, noisy, noisy_file in noisy_cases(files, args.sigmas, tmp):
        den.set_weights(initial)
        truth = truths.get(path)
        out = den.denoise_volume(noisy)
        row = {"file": path.name, "sigma": sigma, "default": round(psnr(clean, out, tissue), 3)}
        if truth is not None:
            row["default_vs_clean"] = round(psnr(truth, out, tissue), 3)
        for variant in args.variants:
            alpha, noise_model = float(variant.split("/")[0]), variant.split("/")[1]
            den.set_weights(initial)
            config = AdaptConfig(files=[str(noisy_file)], alpha=alpha, noise=noise_model, minutes=60.0,
                                 max_steps=args.steps, guard_nlm=False)
            config.learning_rate = args.lr or config.learning_rate
            config.warmup_steps = config.warmup_steps if args.warmup is None else args.warmup
            started = time.perf_counter()
            result = adapt_loaded(den, config)
            seconds = time.perf_counter() - started
            den.set_weights(result.adapted_weights)
            tag = f"a{alpha:g}_{noise_model}"
            out = den.denoise_volume(noisy)
            row[tag] = round(psnr(clean, out, tissue), 3)
            if truth is not None:
                row[f"{tag}_vs_clean"] = round(psnr(truth, out, tissue), 3)
            if args.average:
                avg = recorrupted_average(den, noisy, result.sigmas[0], alpha, args.average, seed=7)
                row[f"{tag}_avg{args.average}"] = round(psnr(clean, avg, tissue), 3)
            row[f"{tag}_guard"] = {"kept": result.kept, "est_gain_db": round(result.gain_db or 0.0, 3),
                                   "steps": result.steps_run, "seconds": round(seconds, 1)}
        den.set_weights(initial)
        rows.append(row)
        print(json.dumps(row), flush=True)
    variants = [k for k in rows[0] if k.startswith("a") and not k.endswith("_guard")]
    summary = {"cases": len(rows)}
    for v in variants:
        deltas = [r[v] - r["default_vs_clean" if v.endswith("_vs_clean") else "default"] for r in rows]
        summary[v] = {"mean_delta_db": round(float(np.mean(deltas)), 3), "worst_delta_db": round(min(deltas), 3)}
    print(json.dumps(summary))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
