"""Model selection on synthetic validation only: models scored on the original and the coarse
synthetic validation sets (both cut from SYNTH_VAL_SLAB of the MNI template, never from real scans)
and on the detail (photographs held out of training, ml/synthetic_detail.py) and oversampled
(interpolated onto a finer grid, ml/synthetic_oversampled.py) sets.

The original set is exactly the one every stage of the default validated on (the recipe's seed,
192 patches of 96 px, Rician or Gaussian noise at sigma 1-10 %, uniform in sigma); the coarse
set is the same slab made into thick, coarse, small-matrix slices (ml/synthetic_coarse.py). PSNR
and SSIM are the training metrics (per patch, then averaged), overall and by sigma band.

    python benchmarks/synth_val.py MODEL_DIR [MODEL_DIR ...] [--json OUT]
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
sys.path.insert(0, str(ROOT / "packaging"))

import numpy as np  # noqa: E402

BANDS = ((0.0, 0.03), (0.03, 0.06), (0.06, 1.0))


def pair_sigmas(n: int, kind: str, variance_range, seed: int) -> np.ndarray:
    """The sigma of each pair of ``mldata.validation_pairs(..., seed)``: its draws replayed."""
    from mri_denoise_gui.ml.data import sigma_range

    rng = np.random.default_rng(seed)
    lo, hi = sigma_range(variance_range)
    out = []
    for _ in range(n):
        out.append(float(rng.uniform(lo, hi)))
        if kind == "rician+gaussian":
            rng.random()
        rng.integers(2**31)
    return np.asarray(out)


def score(model, noisy, clean, sigmas) -> dict:
    return score_outputs(model.predict(noisy, batch_size=16, verbose=0), clean, sigmas)


def score_outputs(pred, clean, sigmas) -> dict:
    """PSNR, SSIM and tissue PSNR of outputs against the clean set, overall and by sigma band."""
    import tensorflow as tf

    from mri_denoise_gui.ml.losses import psnr_metric, ssim_metric

    psnr = np.asarray(psnr_metric(tf.constant(clean), tf.constant(pred)))
    ssim = np.asarray(ssim_metric(tf.constant(clean), tf.constant(pred)))
    # tissue: only the patch's foreground (clean > 0.05), so zero padding and background, which a
    # network cleans easily, do not count (coarse slices are mostly padding in a 96 px patch)
    fg = clean > 0.05
    err = ((np.asarray(pred, np.float64) - clean) ** 2 * fg).sum(axis=(1, 2, 3)) / np.maximum(fg.sum(axis=(1, 2, 3)), 1)
    tissue = 10 * np.log10(1.0 / np.maximum(err, 1e-10))
    out = {"psnr": float(psnr.mean()), "ssim": float(ssim.mean()), "tissue_psnr": float(tissue.mean())}
    for lo, hi in BANDS:
        pick = (sigmas >= lo) & (sigmas < hi)
        out[f"psnr_sigma_{lo:g}-{hi:g}"] = float(psnr[pick].mean())
        out[f"tissue_psnr_sigma_{lo:g}-{hi:g}"] = float(tissue[pick].mean())
    return out


def validation_sets() -> dict:
    """{set name: (noisy, clean, sigma of each pair)}: the four synthetic validation sets, as every
    stage of the default validated on them (stage 5's recipe seed)."""
    from train_shipped_models import recipe_config

    from mri_denoise_gui.ml.data import VALIDATION_NOISE_SEED_OFFSET
    from mri_denoise_gui.ml.synthetic import TissueMaps
    from mri_denoise_gui.ml.synthetic_sets import DOMAINS, synthetic_validation_pairs

    config = recipe_config("default-stage5", Path("unused"))
    maps = TissueMaps.load()
    sets = {}
    for name, (shift, _, _) in DOMAINS.items():
        noisy, clean = synthetic_validation_pairs(config, name, maps=maps)
        sigmas = pair_sigmas(len(noisy), config.noise_kind, config.variance_range,
                             config.seed + shift + VALIDATION_NOISE_SEED_OFFSET)
        sets[name] = (noisy, clean, sigmas)
    return sets


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, help="also write the scores here")
    args = parser.parse_args(argv)

    from mri_denoise_gui.ml.inference import _load_keras
    from mri_denoise_gui.ml.modelfile import MODEL_FILE

    sets = validation_sets()
    results = {"noisy input": {name: score_outputs(noisy, clean, sigmas) for name, (noisy, clean, sigmas) in sets.items()}}
    for folder in args.models:
        model = _load_keras(folder / MODEL_FILE)
        results[str(folder)] = {name: score(model, *data) for name, data in sets.items()}
    for folder, by_set in results.items():
        for name, s in by_set.items():
            bands = "  ".join(f"{k.removeprefix('psnr_sigma_')}: {v:.2f}" for k, v in s.items() if k.startswith("psnr_sigma"))
            tb = "  ".join(f"{v:.2f}" for k, v in s.items() if k.startswith("tissue_psnr_sigma"))
            print(f"{name:8s} PSNR {s['psnr']:.3f} dB  SSIM {s['ssim']:.4f}  by sigma [{bands}]  "
                  f"tissue {s['tissue_psnr']:.3f} [{tb}]  {folder}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
