"""Probe: would block matching make the default's Wiener refinement better? (issue 14, development only)

The shipped default ends in ``layers.PilotWiener``: BM3D's second (Wiener) step without its block
matching, steered by the network's output. This scores, on synth_val.py's four synthetic
validation sets (never the reserved real scans), the shipped output against BM3D's own Wiener
step (the ``bm3d`` package of the bench extra, with block matching) steered by the same network,
so the gain that building a block-matched layer could buy is known before it is built.

Rows: the shipped default; bm3d's Wiener step piloted by the network's output before the
refinement, and by the shipped output, both with the network's own sigma estimate; the former
inside the tissue only (where the shipped output says there is tissue; the shipped output
elsewhere); the latter told the true sigma; full BM3D told the true sigma (the issue's reference).

    python benchmarks/probe_matched_wiener.py [MODEL_DIR] [--limit N] [--quick] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from synth_val import ROOT, score_outputs, validation_sets

import numpy as np  # noqa: E402


def _bm3d_wiener(noisy: np.ndarray, pilot: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    import bm3d

    return np.stack([bm3d.bm3d(n[..., 0], float(s), stage_arg=p[..., 0].astype(np.float64))[..., None]
                     for n, p, s in zip(noisy, pilot, sigmas)]).astype(np.float32)


def _bm3d_full(noisy: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    import bm3d

    return np.stack([bm3d.bm3d(n[..., 0], float(s))[..., None] for n, s in zip(noisy, sigmas)]).astype(np.float32)


def _tissue(denoised: np.ndarray) -> np.ndarray:
    """Where the default's own output is tissue (no ground truth): above 0.05, grown by 2 px."""
    from scipy import ndimage

    return ndimage.maximum_filter(denoised > 0.05, size=(1, 5, 5, 1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, nargs="?", default=ROOT / "resources" / "models" / "default")
    parser.add_argument("--limit", type=int, help="only the first N pairs of each set (a quick look)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true", help="only the network-piloted rows (one bm3d call a pair)")
    args = parser.parse_args(argv)

    import keras

    from mri_denoise_gui.ml.inference import _load_keras
    from mri_denoise_gui.ml.layers import NOISE_LEVEL_SCALE
    from mri_denoise_gui.ml.modelfile import MODEL_FILE

    model = _load_keras(args.model / MODEL_FILE)
    try:
        wiener_inputs = model.get_layer("wiener").input
    except ValueError:
        raise SystemExit(f"{args.model}: no Wiener refinement to compare with") from None
    parts = keras.Model(model.inputs, [*wiener_inputs, model.outputs[0]])
    results = {}
    for name, (noisy, clean, sigmas) in validation_sets().items():
        if args.limit:
            noisy, clean, sigmas = noisy[: args.limit], clean[: args.limit], sigmas[: args.limit]
        _, pilot, level, shipped = parts.predict(noisy, batch_size=16, verbose=0)
        estimate = level[:, 0, 0, 0] / NOISE_LEVEL_SCALE
        rows = {"noisy input": noisy, "shipped default": shipped}
        t0 = time.perf_counter()
        matched = rows["bm3d Wiener, network pilot, own sigma"] = _bm3d_wiener(noisy, pilot, estimate)
        inside = _tissue(shipped)
        rows["the same inside the tissue only"] = np.where(inside, matched, shipped)
        if not args.quick:
            rows["bm3d Wiener, shipped pilot, own sigma"] = _bm3d_wiener(noisy, shipped, estimate)
            rows["bm3d Wiener, shipped pilot, true sigma"] = _bm3d_wiener(noisy, shipped, sigmas)
            rows["BM3D told the sigma"] = _bm3d_full(noisy, sigmas)
        print(f"{name}: {len(noisy)} pairs, bm3d {time.perf_counter() - t0:.0f} s; sigma estimate / true "
              f"{np.median(estimate / sigmas):.3f} (median)", flush=True)
        results[name] = {row: score_outputs(out, clean, sigmas) for row, out in rows.items()}
        for row, s in results[name].items():
            print(f"{name:11s} {row:40s} PSNR {s['psnr']:.3f}  SSIM {s['ssim']:.4f}  tissue {s['tissue_psnr']:.3f}",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
