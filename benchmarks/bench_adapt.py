"""Adapt-to-a-scan benchmark: does `denoise --adapt` beat the same model without adaptation, and
do the reference-free figures order default / adapted / NLM like the true tissue PSNR?

Each clean volume gets Rician noise at each sigma; the default model, its adaptation to that noisy
volume (ml.adapt, guard on) and non-local means are scored against the clean volume inside its
Otsu tissue mask, and by SURE (core.noref.sure_mse, sigma estimated from the noisy volume) without
it. Default inputs: synthetic MNI test-slab volumes (ml.synthetic) written to a temp folder, plus
any NIfTI paths given; `--real` takes the reserved real scans of bench_real.py instead (evaluation
only: never pick a setting by them); `--large` times one adaptation on a 256x256x128 volume (the
issue's 60 s bar) and exits. Usage:
    python benchmarks/bench_adapt.py [--sigmas 0.03 0.05 0.07] [--method r2r] [--real | --large] [FILES...]
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

from mri_denoise_gui.core import noref  # noqa: E402
from mri_denoise_gui.core.baselines import nlm_denoise  # noqa: E402
from mri_denoise_gui.core.metrics import foreground_mask, psnr  # noqa: E402
from mri_denoise_gui.core.noise import add_noise  # noqa: E402
from mri_denoise_gui.core.normalize import Normalizer  # noqa: E402


def synthetic_files(folder: Path) -> list[Path]:
    from mri_denoise_gui.ml.synthetic import TissueMaps, named_test_volume
    from mri_denoise_gui.ml.train import SYNTH_TEST_SLAB

    maps = TissueMaps.load().slab(*SYNTH_TEST_SLAB)
    out = []
    for contrast, res, seed, bg in (("t1", 1.0, 1, "head"), ("t2", 1.2, 2, "zero"), ("epi", 2.0, 3, "head")):
        path = folder / f"synth_{contrast}.nii.gz"
        nib.save(nib.Nifti1Image(named_test_volume(maps, contrast, res, seed, bg) * 1000, np.diag([res] * 3 + [1])), path)
        out.append(path)
    return out


def large_volume(shape=(256, 256, 128)) -> np.ndarray:
    """A synthetic T1 of ``shape`` (MNI test slab, 1 mm, with a head; in-plane zoomed when the
    shape is larger than the template's 182x218), zero-padded in-plane."""
    from scipy import ndimage

    from mri_denoise_gui.ml.synthetic import TissueMaps, named_test_volume

    vol = named_test_volume(TissueMaps.load().slab(30, 30 + shape[2]), "t1", 1.0, 4, "head")
    zoom = max(1.0, shape[0] / 256, shape[1] / 256)
    if zoom > 1.0:
        vol = ndimage.zoom(vol, (zoom, zoom, 1), order=1)
    vol = vol[:shape[0], :shape[1], :shape[2]]
    return np.pad(vol, [(0, max(0, n - s)) for n, s in zip(shape, vol.shape)])


def time_large(folder: Path, method: str, minutes: float, shape=(256, 256, 128)) -> None:
    """Wall time of `denoise --adapt`'s adaptation (training + guard) on a large volume."""
    from mri_denoise_gui.ml.adapt import AdaptConfig, adapt_loaded
    from mri_denoise_gui.ml.inference import Denoiser
    from mri_denoise_gui.resources import default_model_dir

    vol = large_volume(shape) * 1000
    data = Normalizer().fit(vol).forward(vol)
    noisy_file = folder / "noisy_large.nii.gz"
    nib.save(nib.Nifti1Image(add_noise(data, "rician", 0.05**2, seed=5), np.eye(4)), noisy_file)
    den = Denoiser.load(default_model_dir())
    started = time.perf_counter()
    result = adapt_loaded(den, AdaptConfig(files=[str(noisy_file)], method=method, minutes=minutes))
    print(json.dumps({"volume": "x".join(map(str, vol.shape)), "sigma": 0.05,
                      "adapt_seconds": round(time.perf_counter() - started, 1),
                      "steps": result.steps_run, "kept": result.kept,
                      "load_average": os.getloadavg()[0]}))


def noisy_cases(files, sigmas, folder: Path):
    """(file, sigma, clean, tissue mask, noisy, noisy file) for each clean volume and sigma: Rician
    noise on the normalised volume (seed 100 + the sigma's index), written to ``folder``."""
    for path in files:
        data = np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)
        data = data[..., 0] if data.ndim == 4 else data
        clean = Normalizer().fit(data).forward(data)
        tissue = foreground_mask(clean)
        for k, sigma in enumerate(sigmas):
            noisy = add_noise(clean, "rician", sigma**2, seed=100 + k)
            noisy_file = folder / "noisy.nii.gz"
            nib.save(nib.Nifti1Image(noisy, np.eye(4)), noisy_file)
            yield Path(path), sigma, clean, tissue, noisy, noisy_file


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*")
    ap.add_argument("--real", action="store_true", help="the reserved real scans of bench_real.py (evaluation only)")
    ap.add_argument("--large", action="store_true", help="only time one adaptation of a large volume (--shape)")
    ap.add_argument("--shape", nargs=3, type=int, default=[256, 256, 128], metavar=("X", "Y", "Z"),
                    help="with --large: the volume's shape (default 256 256 128, the issue's bar)")
    ap.add_argument("--sigmas", nargs="+", type=float, default=[0.03, 0.05, 0.07])
    ap.add_argument("--method", default="r2r")
    ap.add_argument("--noise", default="rician", help="AdaptConfig.noise: rician or gaussian (r2r targets, SURE)")
    ap.add_argument("--minutes", type=float, default=0.5)
    ap.add_argument("--lr", type=float, default=None, help="learning rate (default: AdaptConfig's)")
    ap.add_argument("--steps", type=int, default=None, help="at most this many steps (default: AdaptConfig's)")
    args = ap.parse_args()
    from mri_denoise_gui.ml.adapt import AdaptConfig, adapt_loaded
    from mri_denoise_gui.ml.inference import Denoiser
    from mri_denoise_gui.resources import default_model_dir

    tmp = Path(tempfile.mkdtemp())
    own: dict[str, float] = {}  # real scans: each reference's own noise
    if args.large:
        return time_large(tmp, args.method, args.minutes, tuple(args.shape))
    if args.real:
        from bench_real import CLEAN_REFERENCE, own_sigma, write_scans

        files = [p for p, _ in write_scans(tmp / "real")]
        own = {p.name: own_sigma(p) for p in files}  # the reference's own noise (bench_real)
    else:
        files = [Path(f) for f in args.files] or synthetic_files(tmp)
    den = Denoiser.load(default_model_dir())
    initial = den.model.get_weights()
    rows = []
    for path, sigma, clean, tissue, noisy, noisy_file in noisy_cases(files, args.sigmas, tmp):
        den.set_weights(initial)  # the bfloat16 copy too (on CPUs where auto picks it)
        outs = {"default": den.denoise_volume(noisy), "nlm": nlm_denoise(noisy)}
        started = time.perf_counter()
        config = AdaptConfig(files=[str(noisy_file)], method=args.method, minutes=args.minutes, guard_nlm=False,
                             noise=args.noise)
        config.learning_rate = args.lr or config.learning_rate
        config.max_steps = args.steps or config.max_steps
        try:
            result = adapt_loaded(den, config)
        except ValueError as exc:  # e.g. a single-slice scan: no slices to hold out for the guard
            print(json.dumps({"file": path.name, "sigma": sigma, "skipped": str(exc).split(": ", 1)[-1]}), flush=True)
            continue
        seconds = time.perf_counter() - started
        outs["adapted"] = den.denoise_volume(noisy)  # the guard's choice (the default if rejected)
        true = {m: psnr(clean, o, tissue) for m, o in outs.items()}
        unguarded = true["adapted"]  # what the adaptation reached, whatever the guard said (to judge the guard)
        if not result.kept and result.adapted_weights is not None:
            kept_weights = den.model.get_weights()
            den.set_weights(result.adapted_weights)
            unguarded = psnr(clean, den.denoise_volume(noisy), tissue)
            den.set_weights(kept_weights)
        s_est = result.sigmas[0]  # the adaptation's own estimate (normalised units of the noisy file)
        # scored in the same tissue mask as the true PSNR, to test the estimator (not the mask)
        sure = {m: noref.sure_mse(noisy, (lambda st, m=m: _rerun(m, st, den, initial, result)), s_est,
                                  mask=tissue, rician=config.noise == "rician")["psnr"] for m in outs}
        row = {"file": path.name, "sigma": sigma, "sigma_est": round(s_est, 4), "kept": result.kept,
               "true_tissue_psnr": {m: round(v, 2) for m, v in true.items()},
               "delta_db": round(true["adapted"] - true["default"], 2),
               "unguarded_delta_db": round(unguarded - true["default"], 2),
               "sure_psnr": {m: round(v, 2) for m, v in sure.items()},
               "order_agrees": sorted(true, key=true.get) == sorted(sure, key=sure.get),
               "adapt_seconds": round(seconds, 1), "steps": result.steps_run}
        if path.name in own:
            row["reference_own_noise"] = round(own[path.name], 4)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps(summary(rows)))
    if own:  # a blind denoiser is scored fairly only against the nearly clean references
        clean = [r for r in rows if r["reference_own_noise"] < CLEAN_REFERENCE]
        if clean:
            print(json.dumps({"reference_own_noise_below": CLEAN_REFERENCE, **summary(clean)}))


def summary(rows: list[dict]) -> dict:
    deltas = [r["delta_db"] for r in rows]
    return {"cases": len(rows), "mean_delta_db": round(float(np.mean(deltas)), 3),
            "mean_unguarded_delta_db": round(float(np.mean([r["unguarded_delta_db"] for r in rows])), 3),
            "worst_delta_db": min(deltas), "order_agreement": sum(r["order_agrees"] for r in rows) / len(rows),
            "mean_adapt_seconds": round(float(np.mean([r["adapt_seconds"] for r in rows])), 1)}


def _rerun(method, stack, den, initial, result):
    """The (N, H, W) stack through one of the three denoisers (for SURE's two passes)."""
    if method == "nlm":
        return nlm_denoise(stack, axis=0)
    kept = den.model.get_weights()
    if method == "default":
        den.set_weights(initial)
    try:
        return den.denoise_volume(stack, axis=0)
    finally:
        if method == "default":
            den.set_weights(kept)


if __name__ == "__main__":
    main()
