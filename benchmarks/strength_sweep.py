"""Denoising strength on synthetic volumes (the validation slab; synthetic only, no real scan):
tissue PSNR of the default at fixed strengths, and what choosing the strength per volume without a
reference (J-invariant loss, or SURE with the estimated sigma, as scikit-image's calibrate_denoiser
does) would give. It backs the README's advice on the Strength box and records why the app does not
pick the strength by itself.

    python benchmarks/strength_sweep.py [--strengths 0.5 0.7 1 1.4] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from mri_denoise_gui.core import noref  # noqa: E402
from mri_denoise_gui.core.metrics import foreground_mask, psnr  # noqa: E402
from mri_denoise_gui.core.noise import add_noise  # noqa: E402

VOLUMES = [  # (contrast, resolution mm, background, seed): 1 mm to coarse 4 mm
    ("t1", 1.0, "zero", 1), ("t2", 1.0, "head", 2), ("pd", 2.0, "zero", 3), ("flair", 2.0, "head", 4),
    ("epi", 3.0, "zero", 5), ("t1", 3.0, "head", 6), ("template", 4.0, "zero", 7), ("t2", 4.0, "zero", 8)]
SIGMAS = (0.01, 0.03, 0.05, 0.07)


def main(argv=None) -> int:
    from mri_denoise_gui.ml.inference import Denoiser
    from mri_denoise_gui.ml.synthetic import TissueMaps, named_test_volume
    from mri_denoise_gui.ml.synthetic_sets import SYNTH_VAL_SLAB
    from mri_denoise_gui.resources import default_model_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=default_model_dir())
    parser.add_argument("--strengths", nargs="+", type=float, default=[0.5, 0.7, 1.0, 1.4])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    denoiser = Denoiser.load(args.model, precision="float32")
    maps = TissueMaps.load().slab(*SYNTH_VAL_SLAB)
    rows = []
    print(f"{'volume':<18} sigma  " + "  ".join(f"{s:>6g}" for s in args.strengths) + "   J picks  SURE picks")
    for contrast, res, background, seed in VOLUMES:
        clean = named_test_volume(maps, contrast, res, seed, background)
        clean = np.clip(clean / np.percentile(clean, 99.5), 0, 1).astype(np.float32)
        mask = foreground_mask(clean)
        for sigma in SIGMAS:
            noisy = add_noise(clean, "rician", sigma * sigma, seed=seed).astype(np.float32)
            stack = np.moveaxis(noisy, 2, 0)
            tissue = noref.tissue_mask(stack, erode=0)
            estimate = noref.estimate_sigma(noisy, axis=2)
            row = {"volume": f"{contrast} {res:g} mm {background}", "sigma": sigma, "psnr": {}, "j": {}, "sure": {}}
            for strength in args.strengths:
                denoiser.set_strength(strength)

                def run(s):
                    return denoiser.denoise_slices01(s, batch_size=8)

                row["psnr"][strength] = psnr(clean, denoiser.denoise_volume01(noisy, axis=2), mask)
                row["j"][strength] = noref.j_invariant_loss(stack, run, axis=0, mask=tissue, n_masks=4)["volume"]
                row["sure"][strength] = noref.sure_mse(stack, run, estimate, axis=0, mask=tissue)["volume"]
            row["j_pick"] = min(args.strengths, key=row["j"].get)
            row["sure_pick"] = min(args.strengths, key=row["sure"].get)
            rows.append(row)
            print(f"{row['volume']:<18} {sigma:.2f}  " + "  ".join(f"{row['psnr'][s]:6.2f}" for s in args.strengths)
                  + f"   {row['j_pick']:>7g}  {row['sure_pick']:>10g}", flush=True)
    mean = {s: float(np.mean([r["psnr"][s] for r in rows])) for s in args.strengths}
    best = float(np.mean([max(r["psnr"].values()) for r in rows]))
    j = float(np.mean([r["psnr"][r["j_pick"]] for r in rows]))
    sure = float(np.mean([r["psnr"][r["sure_pick"]] for r in rows]))
    print("\nmean tissue PSNR by strength: " + ", ".join(f"{s:g}: {v:.3f}" for s, v in mean.items()))
    print(f"best strength per case in hindsight {best:.3f}; picked by J-invariant loss {j:.3f}; by SURE {sure:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "mean": mean, "hindsight": best, "j": j, "sure": sure},
                                        indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
