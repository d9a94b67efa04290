"""Inference speed: the default model in float32 and in the automatic precision, vs the seed autoencoder.

Slices per second at 256x256 with batch 1 and 16 (through Denoiser.denoise_slices01, padding
and clipping included, after one warm-up call), the time for a 256x256x128 volume, and the peak
resident memory of a process that loads one model and denoises that volume. Rows: the default
model in float32 and in the precision "auto" picks on this machine (bfloat16 on CPUs with native
bfloat16), the seed autoencoder in float32; all in one process, interleaved, so the ratios hold
on a shared machine. Quality check: tissue PSNR of the default model on the demo volume (Rician
noise) in float32 and in the automatic precision, and the PSNR between the two outputs.

On a CPU without native bfloat16 (no ``avx512_bf16`` / ``amx_bf16``) "auto" is float32 and the
ratio is 1.00x by construction; ``--precision bfloat16`` then measures oneDNN's / Eigen's emulation.

    python benchmarks/bench_inference.py [--rounds N] [--skip-memory] [--precision auto|bfloat16|float16]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from mri_denoise_gui.resources import default_model_dir, seed_model_dir  # noqa: E402


def slices_per_second(denoiser, batch: int, seconds: float = 6.0) -> float:
    x = np.random.default_rng(0).random((batch, 256, 256)).astype(np.float32)
    denoiser.denoise_slices01(x, batch_size=batch)  # warm-up (trace)
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        denoiser.denoise_slices01(x, batch_size=batch)
        n += batch
    return n / (time.perf_counter() - started)


def volume_seconds(denoiser, batch: int = 16) -> float:
    vol = np.random.default_rng(1).random((256, 256, 128)).astype(np.float32)
    denoiser.denoise_volume01(vol[:, :, :batch], axis=2, batch_size=batch)
    started = time.perf_counter()
    denoiser.denoise_volume01(vol, axis=2, batch_size=batch)
    return time.perf_counter() - started


def precision_quality(fast, exact) -> list[dict]:
    """Tissue PSNR of ``exact`` (float32) and ``fast`` on the demo volume at two Rician noise levels."""
    from mri_denoise_gui.core.metrics import foreground_mask, psnr
    from mri_denoise_gui.core.noise import add_noise
    from mri_denoise_gui.core.volume import load_volume
    from mri_denoise_gui.resources import demo_volume_path

    vol = load_volume(demo_volume_path())
    clean = exact.normalizer().fit(vol.data).forward(vol.data, clip=True)
    mask = foreground_mask(clean)
    rows = []
    for variance in (0.0025, 0.01):
        noisy = add_noise(clean, "rician", variance, seed=0)
        out32 = exact.denoise_volume01(noisy, batch_size=16)
        out = fast.denoise_volume01(noisy, batch_size=16)
        rows.append({"variance": variance, "tissue_psnr_float32": psnr(clean, out32, mask),
                     f"tissue_psnr_{fast.precision}": psnr(clean, out, mask),
                     "delta_db": psnr(clean, out, mask) - psnr(clean, out32, mask),
                     "psnr_between_outputs": psnr(out32, out)})
    return rows


def peak_memory_mb(folder: Path, precision: str) -> tuple[float, float]:
    """Peak RSS of a fresh process that loads ``folder`` and denoises a 256x256x128 volume,
    and how much that peak grew during denoising (after TensorFlow, the model and the input)."""
    code = ("import sys, resource, numpy as np; sys.path.insert(0, %r);"
            "from mri_denoise_gui.ml.inference import Denoiser;"
            "d = Denoiser.load(%r, precision=%r); v = np.random.default_rng(1).random((256, 256, 128)).astype(np.float32);"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
            "d.denoise_volume01(v, axis=2, batch_size=16);"
            "print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)") % (str(ROOT), str(folder), precision)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = (int(v) for v in out.stdout.strip().splitlines()[-1].split())
    return after / 1024.0, (after - before) / 1024.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="alternate the models this many times")
    parser.add_argument("--skip-memory", action="store_true", help="no peak-memory subprocesses")
    parser.add_argument("--precision", default="auto", choices=("auto", "bfloat16", "float16"),
                        help="the candidate row's precision (default auto: what the hardware runs natively)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--default", type=Path, default=default_model_dir(),
                        help="the default model's folder (a candidate before it is shipped)")
    args = parser.parse_args(argv)
    from mri_denoise_gui.ml import precision as mlprecision
    from mri_denoise_gui.ml.inference import Denoiser

    candidate = Denoiser.load(args.default, precision=args.precision)
    print(f"CPU native bfloat16 ({'/'.join(mlprecision.CPU_BF16_FLAGS)}): {mlprecision.cpu_has_native_bf16()}; "
          f"candidate precision {args.precision} -> {candidate.precision} ({candidate.precision_reason}); "
          f"{len(os.sched_getaffinity(0))} of {os.cpu_count()} CPUs usable", flush=True)
    models = {"default float32": Denoiser.load(args.default, precision="float32"),
              "default auto": candidate,
              "seed float32": Denoiser.load(seed_model_dir(), precision="float32")}
    results = {name: {"b1": [], "b16": [], "volume_s": []} for name in models}
    for _ in range(args.rounds):  # interleaved so background load hits all alike
        for name, d in models.items():
            results[name]["b1"].append(slices_per_second(d, 1))
            results[name]["b16"].append(slices_per_second(d, 16))
            results[name]["volume_s"].append(volume_seconds(d))
    table = []
    for name, d in models.items():
        r = results[name]
        table.append({"model": name, "architecture": d.info["architecture"], "parameters": d.info["parameters"],
                      "device": d.device, "precision": d.precision, "slices_per_s_batch1": max(r["b1"]),
                      "slices_per_s_batch16": max(r["b16"]), "volume_256x256x128_s": min(r["volume_s"])})
        table[-1]["peak_rss_mb"], table[-1]["denoise_peak_growth_mb"] = (
            (float("nan"), float("nan")) if args.skip_memory else peak_memory_mb(d.folder, d.precision))
    print(f"{'model':<16} {'precision':<9} {'params':>8} {'slices/s b1':>12} {'slices/s b16':>13} "
          f"{'256x256x128 s':>14} {'peak RSS MB':>12} {'growth MB':>10}")
    for t in table:
        print(f"{t['model']:<16} {t['precision']:<9} {t['parameters']:>8} {t['slices_per_s_batch1']:>12.1f} "
              f"{t['slices_per_s_batch16']:>13.1f} {t['volume_256x256x128_s']:>14.2f} {t['peak_rss_mb']:>12.0f} "
              f"{t['denoise_peak_growth_mb']:>10.0f}")
    d32, dauto, s32 = table

    def ratio(a, b, key):
        return a[key] / b[key]

    if dauto["precision"] == "float32":
        print("note: the candidate ran float32 (no native bfloat16 here), so its ratio is 1.00x by construction")
    print(f"automatic precision ({dauto['precision']}) over float32, default model: "
          f"batch 1 {ratio(dauto, d32, 'slices_per_s_batch1'):.2f}x, batch 16 {ratio(dauto, d32, 'slices_per_s_batch16'):.2f}x, "
          f"volume {d32['volume_256x256x128_s'] / dauto['volume_256x256x128_s']:.2f}x (target >= 1.8x)")
    print(f"default over seed, both float32: batch 1 {ratio(d32, s32, 'slices_per_s_batch1'):.2f}x, "
          f"batch 16 {ratio(d32, s32, 'slices_per_s_batch16'):.2f}x (target >= 2x); "
          f"device {d32['device']}, {os.cpu_count()} CPUs")
    quality = precision_quality(models["default auto"], models["default float32"])
    fast = dauto["precision"]
    for q in quality:
        print(f"demo volume, Rician variance {q['variance']}: tissue PSNR float32 {q['tissue_psnr_float32']:.3f} dB, "
              f"{fast} {q['tissue_psnr_' + fast]:.3f} dB "
              f"(delta {q['delta_db']:+.3f} dB; outputs agree to {q['psnr_between_outputs']:.1f} dB PSNR)")
    results["quality"] = quality
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_inference.json").write_text(json.dumps({"rows": table, "raw": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
