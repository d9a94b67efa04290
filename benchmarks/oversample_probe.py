"""Development probe (validation slab only, never the reserved scans): models against BM3D told
the true sigma, on synthetic slices as they are and interpolated onto a finer grid.

Why: it measures what the shipped default can do in its own domain against an oracle-sigma BM3D,
and how much worse it is where the anatomy is smooth at the pixel scale (zero-filled or
interpolated reconstructions); benchmarks/README.md, "Told the sigma" and "Stage 8". Tissue PSNR
over clean > 0.05 of a 256 px centre crop, Rician noise, the same slices and seeds for every model.

    python benchmarks/oversample_probe.py [MODEL_DIR ...] [--factors 1 3] [--sigmas 0.03 0.05] [--slices 6]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402


def tissue_psnr(out: np.ndarray, clean: np.ndarray) -> float:
    fg = clean > 0.05
    return float(10 * np.log10(1 / np.mean((out[fg] - clean[fg]) ** 2)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", type=Path, default=[ROOT / "resources" / "models" / "default"])
    parser.add_argument("--factors", nargs="+", type=float, default=[1.0, 3.0])
    parser.add_argument("--sigmas", nargs="+", type=float, default=[0.03, 0.05])
    parser.add_argument("--slices", type=int, default=6)
    args = parser.parse_args(argv)

    import bm3d  # the bench extra

    from mri_denoise_gui.core.noise import add_noise
    from mri_denoise_gui.ml.inference import Denoiser
    from mri_denoise_gui.ml.synthetic import TissueMaps, synth_slice
    from mri_denoise_gui.ml.synthetic_sets import SYNTH_VAL_SLAB

    maps = TissueMaps.load().slab(*SYNTH_VAL_SLAB)
    rng = np.random.default_rng(5)
    models = [Denoiser.load(folder, precision="float32") for folder in args.models]
    slices = [synth_slice(maps, rng, axis=2) for _ in range(args.slices)]
    scores: dict = {}
    for factor in args.factors:
        for sigma in args.sigmas:
            for k, s in enumerate(slices):
                img = s if factor == 1 else np.clip(ndimage.zoom(s, factor, order=3), 0, 1)
                h, w = img.shape
                clean = img[max(0, h // 2 - 128):h // 2 + 128, max(0, w // 2 - 128):w // 2 + 128].astype(np.float32)
                noisy = add_noise(clean, "rician", sigma * sigma, seed=100 + k, clip=True).astype(np.float32)
                outs = {"noisy input": noisy, "bm3d (true sigma)": np.clip(bm3d.bm3d(noisy, sigma_psd=sigma), 0, 1)}
                for m in models:
                    outs[m.folder.name] = m.denoise_volume01(noisy[:, :, None], axis=2)[:, :, 0]
                for name, out in outs.items():
                    scores.setdefault((factor, sigma, name), []).append(tissue_psnr(out, clean))
    print(f"tissue PSNR, mean of {args.slices} validation-slab slices")
    for (factor, sigma, name), values in scores.items():
        print(f"  x{factor:g}  sigma {sigma:.2f}  {name:<22} {np.mean(values):6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
