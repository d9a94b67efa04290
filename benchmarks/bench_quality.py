"""Quality benchmark: the shipped models vs non-local means (and BM3D) on held-out volumes.

Held-out data: synthetic volumes built from the MNI152 slab that training never touched
(file axis 2, z in SYNTH_TEST_SLAB; training used SYNTH_TRAIN_SLABS and validation SYNTH_VAL_SLAB,
8-slice gaps between), with named contrasts (T1, T2, PD, FLAIR, EPI, the template itself),
resolutions of 1-3 mm and zero or skull-like backgrounds, each volume with its own seed.
Rician noise at sigma 3%, 5% and 7% of the normalised range. Scores: whole image and inside
the tissue (Otsu foreground of the clean volume). With the `bm3d` package (the bench extra),
BM3D runs twice: blind, its sigma estimated per slice as NLM's is, and told the true sigma.

A second table probes thin flat structures (scalp, dura, vessels), where the first shipped
default did no better than the noisy input: flat rings 2-30 px wide at 0.9 around a flat disc
at 0.6 on a zero background, Rician sigma 5%, PSNR inside the ring and inside the disc.
A third probes step edges and dim flat regions: a flat disc at 0.8 on a flat level of 0.05-0.2.

    python benchmarks/bench_quality.py
"""

from __future__ import annotations

import argparse
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

from bench_real import KnownSigmaBM3D  # noqa: E402
from mri_denoise_gui.ml.evaluate import evaluate, format_table  # noqa: E402
from mri_denoise_gui.core.baselines import bm3d_available  # noqa: E402
from mri_denoise_gui.ml.inference import Denoiser  # noqa: E402
from mri_denoise_gui.ml.synthetic import TissueMaps, named_test_volume  # noqa: E402
from mri_denoise_gui.ml.train import SYNTH_TEST_SLAB, SYNTH_TRAIN_SLABS, SYNTH_VAL_SLAB  # noqa: E402
from mri_denoise_gui.resources import default_model_dir, seed_model_dir  # noqa: E402

HELD_OUT = [  # (contrast, resolution mm, background, seed)
    ("t1", 1.0, "zero", 101),
    ("t1", 2.0, "head", 102),
    ("t2", 1.0, "head", 103),
    ("pd", 2.0, "zero", 104),
    ("flair", 1.0, "zero", 105),
    ("epi", 3.0, "zero", 106),
    ("template", 1.0, "zero", 107),
]
SIGMAS = (0.03, 0.05, 0.07)


def _overlaps(a, b) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def write_held_out(folder: Path) -> list[Path]:
    """The held-out volumes as NIfTI files (1 mm voxels scaled to the chosen resolution)."""
    folder.mkdir(parents=True, exist_ok=True)
    maps = TissueMaps.load().slab(*SYNTH_TEST_SLAB)
    paths = []
    for contrast, res, background, seed in HELD_OUT:
        vol = named_test_volume(maps, contrast, res, seed, background) * 1000.0
        path = folder / f"heldout_{contrast}_{res:g}mm_{background}.nii.gz"
        nib.save(nib.Nifti1Image(vol.astype(np.float32), np.diag([res, res, res, 1.0])), str(path))
        paths.append(path)
    return paths


RING_WIDTHS = (2, 3, 5, 10, 30)


def _radius(size: int) -> np.ndarray:
    """Distance of every pixel from the centre of a size x size probe image."""
    yy, xx = np.mgrid[:size, :size]
    return np.hypot(yy - size / 2, xx - size / 2)


def _probe_outputs(clean: np.ndarray, sigma: float, seed: int, models) -> dict:
    """A probe image with Rician noise, and what NLM and each model make of it, by method."""
    from mri_denoise_gui.core.baselines import nlm_denoise
    from mri_denoise_gui.core.noise import add_noise

    noisy = add_noise(clean, "rician", sigma * sigma, seed=seed, clip=True).astype(np.float32)
    outputs = {"noisy input": noisy, "nlm": nlm_denoise(noisy[:, :, None], axis=2)[:, :, 0]}
    for d in models:
        outputs[d.name] = d.denoise_slices01(noisy[None], batch_size=1)[0]
    return outputs


def thin_structure_probe(models, sigma: float = 0.05, size: int = 192) -> list[dict]:
    """PSNR inside flat rings of several widths and inside a flat disc, per method."""
    from mri_denoise_gui.core.metrics import psnr

    r = _radius(size)
    rows = []
    for width in RING_WIDTHS:
        ring = (r > 60) & (r < 60 + width)
        disc = r < 48
        clean = np.where(ring, 0.9, 0.0) + np.where(r < 50, 0.6, 0.0)
        clean = clean.astype(np.float32)
        for method, out in _probe_outputs(clean, sigma, width, models).items():
            rows.append({"width_px": width, "method": method, "ring_psnr": psnr(clean, out, ring),
                         "disc_psnr": psnr(clean, out, disc),
                         "ring_bias": float(np.mean(out[ring] - clean[ring]))})
    return rows


FLAT_LEVELS = (0.05, 0.1, 0.2)


def flat_and_edge_probe(models, sigma: float = 0.05, size: int = 192) -> list[dict]:
    """A flat disc at 0.8 (radius 60 px, a one-voxel step edge) on a flat dim level, per method:
    PSNR within 2 px of the edge, PSNR and bias of the dim level more than 15 px from the disc
    (a net that takes dim flat regions for background blanks them to 0)."""
    from mri_denoise_gui.core.metrics import psnr

    r = _radius(size)
    edge, far = np.abs(r - 60) < 2, r > 75
    rows = []
    for level in FLAT_LEVELS:
        clean = np.where(r < 60, 0.8, level).astype(np.float32)
        for method, out in _probe_outputs(clean, sigma, 1, models).items():
            rows.append({"level": level, "method": method, "edge_psnr": psnr(clean, out, edge),
                         "flat_psnr": psnr(clean, out, far), "flat_bias": float(np.mean(out[far] - level))})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--models", nargs="+", type=Path, default=[default_model_dir(), seed_model_dir()])
    args = parser.parse_args(argv)

    # prove the held-out slab was never trained or validated on, from what the models record
    models = []
    for folder in args.models:
        d = Denoiser.load(folder)
        models.append(d)
        data = d.info.get("training_data", {})
        used = [tuple(t["z_range"]) for t in data.get("train", []) + data.get("validation", [])]
        clash = [u for u in used if _overlaps(u, SYNTH_TEST_SLAB)]
        print(f"{d.name}: trained/validated on MNI z-slabs {used}; held-out test slab {SYNTH_TEST_SLAB}: "
              f"{'OVERLAP ' + str(clash) if clash else 'disjoint'}")
    assert not any(_overlaps(s, SYNTH_TEST_SLAB) for s in SYNTH_TRAIN_SLABS + (SYNTH_VAL_SLAB,))

    files = write_held_out(args.out / "heldout")
    baselines = ["nlm"] + (["bm3d"] if bm3d_available() else [])
    started = time.time()
    result = {"rows": [], "per_file": []}
    for i, sigma in enumerate(SIGMAS):  # one call per sigma so that BM3D can be told it, as in bench_real
        told = [KnownSigmaBM3D(sigma)] if bm3d_available() else []
        part = evaluate(files, models + told, noise_kind="rician", variances=[sigma * sigma],
                        baselines=baselines, axis=2, seed=7 + 100 * i)
        result["rows"] += part["rows"]
        result["per_file"] += part["per_file"]
    print(f"{len(files)} held-out volumes, Rician noise, {time.time() - started:.0f} s")
    print(format_table(result["rows"]))

    # the summary the target is about: mean over sigmas, per method
    methods = list(dict.fromkeys(r["method"] for r in result["rows"]))
    summary = []
    for m in methods:
        rows = [r for r in result["rows"] if r["method"] == m]
        summary.append({"method": m, **{k: float(np.mean([r[k] for r in rows])) for k in
                                        ("psnr", "ssim", "tissue_psnr", "tissue_ssim", "seconds_per_slice")}})
    print("\nmean over sigma 3/5/7%:")
    for s in summary:
        print(f"  {s['method']:<20} PSNR {s['psnr']:6.2f}  SSIM {s['ssim']:.4f}  tissue PSNR {s['tissue_psnr']:6.2f}"
              f"  tissue SSIM {s['tissue_ssim']:.4f}  {s['seconds_per_slice']:.4f} s/slice")
    result["summary"] = summary

    probes = [
        ("thin_structures", thin_structure_probe,
         "thin flat rings at 0.9 (Rician sigma 5%): PSNR inside the ring / inside a flat disc, ring bias",
         "{width_px:>3} px  {method:<20} ring {ring_psnr:6.2f} dB  disc {disc_psnr:6.2f} dB  bias {ring_bias:+.4f}"),
        ("flat_and_edge", flat_and_edge_probe,
         "a disc at 0.8 on a flat dim level (Rician sigma 5%): PSNR within 2 px of the step edge, "
         "PSNR and bias of the dim level",
         "level {level:.2f}  {method:<20} edge {edge_psnr:6.2f} dB  level {flat_psnr:6.2f} dB  bias {flat_bias:+.4f}"),
    ]
    for key, probe, title, line in probes:
        result[key] = probe(models)
        print(f"\n{title}")
        for row in result[key]:
            print("  " + line.format(**row))
    result["held_out"] = [{"contrast": c, "resolution_mm": r, "background": b, "seed": s} for c, r, b, s in HELD_OUT]
    result["test_slab"] = list(SYNTH_TEST_SLAB)
    (args.out / "bench_quality.json").write_text(json.dumps(result, indent=2))
    print(f"\nper-file results: {args.out / 'bench_quality.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
