"""Inference speed: the default model vs the seed autoencoder, same process, same input.

Slices per second at 256x256 with batch 1 and 16 (through Denoiser.denoise_slices01, padding
and clipping included, after one warm-up call), the time for a 256x256x128 volume, and the peak
resident memory of a process that loads one model and denoises that volume.

    python benchmarks/bench_inference.py
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


def peak_memory_mb(folder: Path) -> tuple[float, float]:
    """Peak RSS of a fresh process that loads ``folder`` and denoises a 256x256x128 volume,
    and how much that peak grew during denoising (after TensorFlow, the model and the input)."""
    code = ("import sys, resource, numpy as np; sys.path.insert(0, %r);"
            "from mri_denoise_gui.ml.inference import Denoiser;"
            "d = Denoiser.load(%r); v = np.random.default_rng(1).random((256, 256, 128)).astype(np.float32);"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
            "d.denoise_volume01(v, axis=2, batch_size=16);"
            "print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)") % (str(ROOT), str(folder))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = (int(v) for v in out.stdout.strip().splitlines()[-1].split())
    return after / 1024.0, (after - before) / 1024.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="alternate the models this many times")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = parser.parse_args(argv)
    from mri_denoise_gui.ml.inference import Denoiser

    models = {"default": Denoiser.load(default_model_dir()), "seed-autoencoder": Denoiser.load(seed_model_dir())}
    results = {name: {"b1": [], "b16": [], "volume_s": []} for name in models}
    for _ in range(args.rounds):  # interleaved so background load hits both alike
        for name, d in models.items():
            results[name]["b1"].append(slices_per_second(d, 1))
            results[name]["b16"].append(slices_per_second(d, 16))
            results[name]["volume_s"].append(volume_seconds(d))
    table = []
    for name, d in models.items():
        r = results[name]
        table.append({"model": name, "architecture": d.info["architecture"], "parameters": d.info["parameters"],
                      "device": d.device, "slices_per_s_batch1": max(r["b1"]), "slices_per_s_batch16": max(r["b16"]),
                      "volume_256x256x128_s": min(r["volume_s"])})
        table[-1]["peak_rss_mb"], table[-1]["denoise_peak_growth_mb"] = peak_memory_mb(d.folder)
    print(f"{'model':<18} {'params':>8} {'slices/s b1':>12} {'slices/s b16':>13} {'256x256x128 s':>14} {'peak RSS MB':>12} {'growth MB':>10}")
    for t in table:
        print(f"{t['model']:<18} {t['parameters']:>8} {t['slices_per_s_batch1']:>12.1f} {t['slices_per_s_batch16']:>13.1f} "
              f"{t['volume_256x256x128_s']:>14.2f} {t['peak_rss_mb']:>12.0f} {t['denoise_peak_growth_mb']:>10.0f}")
    d, s = table
    print(f"speed-up of default over seed: batch 1 {d['slices_per_s_batch1'] / s['slices_per_s_batch1']:.2f}x, "
          f"batch 16 {d['slices_per_s_batch16'] / s['slices_per_s_batch16']:.2f}x (target >= 2x); "
          f"device {d['device']}, {os.cpu_count()} CPUs")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_inference.json").write_text(json.dumps({"rows": table, "raw": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
