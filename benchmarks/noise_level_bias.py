"""How right the default's in-model noise estimate is (issue 14, "a noise-level estimate that stays
right"): NoiseLevelMap's Donoho estimate (median |HH| / 0.6745 of the finest Haar diagonal detail
of the whole slice, every 4th position of the half-resolution grid) on synthetic slices of the
validation slab, original and coarse domain (ml/synthetic_coarse.py), against the true Rician sigma.
Synthetic only: the reserved real scans are not used.

    python benchmarks/noise_level_bias.py [--slices 24]
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mri_denoise_gui.core.noise import add_noise  # noqa: E402
from mri_denoise_gui.ml.synthetic import TissueMaps, synth_slice  # noqa: E402
from mri_denoise_gui.ml.synthetic_coarse import coarse_slice  # noqa: E402
from mri_denoise_gui.ml.synthetic_sets import SYNTH_VAL_SLAB  # noqa: E402

SIGMAS = (0.0, 0.01, 0.03, 0.05, 0.07)


def layer_sigma(image: np.ndarray, step: int = 4) -> float:
    """The estimate the default's own layers feed the network (PixelUnshuffle(2) then NoiseLevelMap
    with the shipped model's step, without its x10 scaling), on the image cropped to even sides."""
    from mri_denoise_gui.ml.layers import NoiseLevelMap, PixelUnshuffle

    h, w = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    level = NoiseLevelMap(step=step)(PixelUnshuffle(2)(image[None, :h, :w, None].astype(np.float32)))
    return float(np.asarray(level)[0, 0, 0, 0]) / 10.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", type=int, default=24)
    args = parser.parse_args(argv)
    maps = TissueMaps.load().slab(*SYNTH_VAL_SLAB)
    rng = np.random.default_rng(7)
    makers = {"original": lambda: synth_slice(maps, rng, axis=2), "coarse": lambda: coarse_slice(maps, rng, axis=2)}
    print("domain    true sigma  estimate (median, 10-90 %)   estimate / true")
    for name, make in makers.items():
        for sigma in SIGMAS:
            est = np.array([layer_sigma(add_noise(c, "rician", sigma * sigma, seed=i) if sigma else c)
                            for i, c in enumerate(make() for _ in range(args.slices))])
            ratio = f"{np.median(est) / sigma:.2f}" if sigma else "-"
            print(f"{name:<9} {sigma:10.2f}  {np.median(est):.4f} ({np.percentile(est, 10):.4f}-"
                  f"{np.percentile(est, 90):.4f})   {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
